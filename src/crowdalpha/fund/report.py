"""Stage 5 — the report: ``metrics.json`` and one self-contained HTML page.

The page has no scripts, no fonts, no links to fetch: charts are matplotlib figures
inlined as SVG (text kept as text), styles inline. Every number in its tables is read from
the same metrics dict that ``metrics.json`` holds, formatted once here; the key cells carry
``data-metric`` attributes naming their path in ``metrics.json``.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crowdalpha.fund.metrics import drawdown, to_weekly
from crowdalpha.fund.runner import FundResult

__all__ = ["render_html", "write_report"]

_COLOURS = {
    "meta": "#0072b2",
    "equal_weight": "#56b4e9",
    "best_point_in_time": "#009e73",
    "best_hindsight": "#cc79a7",
    "momentum": "#e69f00",
    "oracle": "#d55e00",
}
_PLACEBO = "#bbbbbb"


def _svg(fig: Any) -> str:
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": "crowdalpha", "svg.fonttype": "none"}):
        fig.savefig(
            buffer,
            format="svg",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(cols: int = 1, *, width: float = 7.5, height: float = 3.0) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    # Fixed margins: a layout engine measures every label (several draws per chart).
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.09, right=0.91, bottom=0.16, top=0.88, wspace=0.35)
    axes = fig.subplots(1, cols, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, list(axes)


def _dates(*axes: Any) -> None:
    """Few, short date labels on time axes (two charts share a row)."""
    from matplotlib import dates

    mdates: Any = dates  # matplotlib.dates is not fully typed
    for ax in axes:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _wealth(daily: pd.Series) -> pd.Series:
    weekly = to_weekly(daily)
    return (1.0 + weekly).cumprod()


def _equity_chart(result: FundResult) -> str:
    fig, (ax,) = _figure(height=3.6)
    fund = result.fund.ledger.daily
    for name, run in result.runs.items():
        if name in ("meta", "oracle"):
            continue
        colour = _PLACEBO if run.strategy.kind == "placebo" else _COLOURS.get(name, "#444444")
        label = None if run.strategy.kind == "placebo" else name
        wealth = _wealth(run.ledger.daily["net"])
        ax.plot(wealth.index, wealth.to_numpy(), color=colour, lw=0.9, label=label)
    gross = _wealth(fund["gross"])
    net = _wealth(fund["net"])
    ax.plot(
        gross.index, gross.to_numpy(), color=_COLOURS["meta"], lw=1.4, ls="--", label="fund gross"
    )
    ax.plot(net.index, net.to_numpy(), color=_COLOURS["meta"], lw=1.8, label="fund net")
    ax.set_yscale("log")
    ax.set_title("Growth of 1 (log scale; net of costs unless marked; placebos in grey)")
    ax.legend(fontsize=7, ncols=3)
    _dates(ax)
    return _svg(fig)


def _risk_chart(result: FundResult) -> str:
    fig, (a1, a2) = _figure(2, height=2.8)
    weekly = to_weekly(result.fund.ledger.daily["net"])
    dd = pd.Series(drawdown(weekly.to_numpy()), index=weekly.index)
    a1.fill_between(dd.index, dd.to_numpy(), 0.0, color="#d55e00", alpha=0.5)
    a1.set_title("Underwater (net, weekly)")
    rolling = weekly.rolling(52).mean() / weekly.rolling(52).std() * math.sqrt(52.0)
    a2.plot(rolling.index, rolling.to_numpy(), color=_COLOURS["meta"])
    a2.axhline(0.0, color="black", lw=0.6)
    a2.set_title("Rolling 52-week Sharpe (net)")
    _dates(a1, a2)
    return _svg(fig)


def _annual_chart(result: FundResult) -> str:
    fig, (a1, a2) = _figure(2, height=2.8)
    net = result.fund.ledger.daily["net"]
    years = (1.0 + net).groupby(pd.DatetimeIndex(net.index).year).prod() - 1.0
    a1.bar([str(y) for y in years.index], years.to_numpy(), color=_COLOURS["meta"])
    a1.set_title("Net return by calendar year")
    a1.tick_params(axis="x", labelrotation=45, labelsize=7)
    reb = result.fund.ledger.rebalances
    cost = (reb["cost_spread"] + reb["cost_impact"] + reb["commission"]) * 1e4
    a2.plot(reb["date"], reb["turnover"], color=_COLOURS["meta"], lw=0.8, label="turnover")
    a2.set_ylabel("one-way turnover")
    twin = a2.twinx()
    twin.plot(reb["date"], cost, color="#d55e00", lw=0.8, label="cost (bp of NAV)")
    twin.set_ylabel("cost, bp")
    a2.set_title("Turnover and cost per rebalance")
    _dates(a2)
    return _svg(fig)


def _exposure_chart(result: FundResult) -> str:
    fig, (a1, a2) = _figure(2, height=2.8)
    exposures: pd.DataFrame = result.series["exposures"]
    for col in exposures.columns:
        if col != "net":
            a1.plot(exposures.index, exposures[col].to_numpy(), lw=0.8, label=col)
    a1.set_title("Drifted book's exposures before each rebalance")
    a1.legend(fontsize=6, ncols=2)
    daily = result.fund.ledger.daily
    a2.plot(daily.index, daily["gross_exposure"].to_numpy(), lw=0.8, label="gross")
    a2.plot(daily.index, daily["net_exposure"].to_numpy(), lw=0.8, label="net")
    a2.plot(daily.index, daily["beta_exposure"].to_numpy(), lw=0.8, label="beta")
    a2.set_title("Daily exposures (fractions of NAV)")
    a2.legend(fontsize=7)
    _dates(a1, a2)
    return _svg(fig)


def _ic_chart(result: FundResult) -> str:
    fig, (a1, a2) = _figure(2, height=2.8)
    ic: pd.Series = result.series["ic"].dropna()
    a1.bar(ic.index, ic.to_numpy(), width=4, color=_COLOURS["meta"], alpha=0.6)
    twin = a1.twinx()
    twin.plot(ic.index, ic.cumsum().to_numpy(), color="black", lw=1.0)
    a1.set_title("IC per rebalance (bars) and cumulative IC (line)")
    decay: Mapping[int, float] = result.series["decay"]
    lags = [0, *decay.keys()]
    values = [float(ic.mean()), *decay.values()]
    a2.bar([str(k) for k in lags], values, color=_COLOURS["meta"])
    a2.axhline(0.0, color="black", lw=0.6)
    a2.set_title("IC decay (mean IC by lag, in rebalances)")
    _dates(a1)
    return _svg(fig)


def _capacity_chart(metrics: Mapping[str, Any]) -> str:
    fig, (a1, a2) = _figure(2, height=2.6)
    cap = metrics["fund"]["capacity"]
    a1.plot([c["aum"] for c in cap], [c["net_sharpe"] or 0.0 for c in cap], "o-")
    a1.set_xscale("log")
    a1.set_xlabel("fund size, $")
    a1.set_title("Capacity: net Sharpe by fund size")
    sens = metrics["fund"]["cost_sensitivity"]
    a2.plot([c["cost_multiplier"] for c in sens], [c["net_sharpe"] or 0.0 for c in sens], "o-")
    a2.set_xlabel("costs × multiplier")
    a2.set_title("Cost sensitivity: net Sharpe")
    return _svg(fig)


def _contribution_chart(metrics: Mapping[str, Any]) -> str:
    rows = metrics["contributions"]
    if not rows:
        return ""
    fig, (ax,) = _figure(height=0.35 * len(rows) + 1.2)
    fig.subplots_adjust(left=0.2)
    names = [r["model"] for r in rows][::-1]
    ax.barh(names, [r["mpc_mean"] or 0.0 for r in rows][::-1], color=_COLOURS["meta"])
    ax.axvline(0.0, color="black", lw=0.6)
    ax.set_title("Mean MPC per model (contribution to the meta portfolio)")
    return _svg(fig)


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else format(value, spec)
    return html.escape(str(value))


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def _cell(value: str, path: str | None = None) -> str:
    attr = f' data-metric="{html.escape(path)}"' if path else ""
    return f"<td{attr}>{value}</td>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline(metrics: Mapping[str, Any]) -> str:
    f = metrics["fund"]
    rows = []
    for label, key, fmt in (
        ("Annual return (compound)", "annual_return", _pct),
        ("Annual volatility", "annual_volatility", _pct),
        ("Sharpe", "sharpe", _fmt),
        ("Sharpe 95 % interval, low", "sharpe_low", _fmt),
        ("Sharpe 95 % interval, high", "sharpe_high", _fmt),
        ("t-statistic of the mean", "t_stat", _fmt),
        ("Sortino", "sortino", _fmt),
        ("Max drawdown", "max_drawdown", _pct),
        ("Max drawdown length (sessions)", "max_drawdown_periods", _fmt),
        ("Calmar", "calmar", _fmt),
        ("Hit rate (sessions)", "hit_rate", _pct),
        ("Beta to the equal-weighted market", "beta", _fmt),
        ("Correlation to the market", "correlation", _fmt),
    ):
        net = f["net_daily"].get(key)
        gross = f["gross_daily"].get(key)
        rows.append(
            [
                f"<td>{label}</td>",
                _cell(fmt(net), f"fund.net_daily.{key}"),
                _cell(fmt(gross), f"fund.gross_daily.{key}" if gross is not None else None),
            ]
        )
    weekly = f["net_weekly"]
    rows.append(
        [
            "<td>Weekly: Sharpe / hit rate (52 periods a year)</td>",
            _cell(f"{_fmt(weekly['sharpe'])} / {_pct(weekly['hit_rate'])}"),
            "<td></td>",
        ]
    )
    return _table(["daily returns, 252 periods a year", "net", "gross"], rows)


def _trading(metrics: Mapping[str, Any]) -> str:
    f = metrics["fund"]
    items = [
        ("One-way turnover per year", "turnover_per_year", ".2f"),
        ("Traded per year (Σ|Δw|)", "traded_per_year", ".2f"),
        ("Cost drag, bp per year", "cost_bps_per_year", ".1f"),
        ("Borrow, bp per year", "borrow_bps_per_year", ".1f"),
        ("Break-even cost, bp per unit traded", "break_even_cost_bps", ".2f"),
        ("Mean gross exposure", "mean_gross_exposure", ".3f"),
        ("Mean net exposure", "mean_net_exposure", ".2e"),
        ("Mean |beta exposure|", "mean_abs_beta_exposure", ".3f"),
    ]
    rows = [[f"<td>{lbl}</td>", _cell(_fmt(f[k], spec), f"fund.{k}")] for lbl, k, spec in items]
    ic = f["ic"]
    rows.append(
        [
            "<td>IC per rebalance: mean / t / annual IR</td>",
            _cell(
                f"{_fmt(ic['mean'], '.4f')} / {_fmt(ic['t_stat'], '.2f')} / {_fmt(ic['ir'], '.2f')}"
            ),
        ]
    )
    ds = f["decile_spread"]
    rows.append(
        [
            "<td>Top − bottom decile return per period: mean / t</td>",
            _cell(f"{_pct(ds['mean'])} / {_fmt(ds['t_stat'], '.2f')}"),
        ]
    )
    long_s, short_s = f["long_leg"]["sharpe"], f["short_leg"]["sharpe"]
    legs = f"long {_fmt(long_s, '.2f')}, short {_fmt(short_s, '.2f')}"
    rows.append(["<td>Leg Sharpe (gross)</td>", _cell(legs)])
    exp = ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in f["realized_exposure_mean_abs"].items())
    rows.append(["<td>Mean |exposure| going into a rebalance</td>", _cell(exp)])
    return _table(["trading and signal", "value"], rows)


def _comparisons(metrics: Mapping[str, Any]) -> str:
    rows = []
    for name, s in metrics["comparisons"].items():
        diff = s.get("net_sharpe_vs_meta")
        d = (
            f"{_fmt(diff['difference'], '+.2f')} [{_fmt(diff['low'], '+.2f')}, "
            f"{_fmt(diff['high'], '+.2f')}]"
            if diff
            else "—"
        )
        label = html.escape(name)
        if not s["investable"]:
            label += " <em>(not investable)</em>"
        rows.append(
            [
                f"<td>{label}</td>",
                _cell(_fmt(s["net_sharpe"], ".2f"), f"comparisons.{name}.net_sharpe"),
                _cell(d),
                _cell(_fmt(s["gross_sharpe"], ".2f"), f"comparisons.{name}.gross_sharpe"),
                _cell(_pct(s["net_annual_return"])),
                _cell(_pct(s["annual_volatility"])),
                _cell(_pct(s["max_drawdown"])),
                _cell(_fmt(s["turnover_per_year"], ".1f")),
                _cell(_fmt(s["gross_weekly_t_stat"], ".2f")),
            ]
        )
    return _table(
        [
            "strategy",
            "net Sharpe",
            "Δ net Sharpe vs fund [95 %]",
            "gross Sharpe",
            "net return/yr",
            "vol/yr",
            "max DD",
            "turnover/yr",
            "t (gross, weekly)",
        ],
        rows,
    )


def _small_tables(metrics: Mapping[str, Any]) -> str:
    f = metrics["fund"]
    cap = _table(
        ["fund size", "net Sharpe", "net return/yr", "cost bp/yr", "mean gross", "max % ADV"],
        [
            [
                f"<td>${c['aum']:,.0f}</td>",
                _cell(_fmt(c["net_sharpe"], ".2f")),
                _cell(_pct(c["net_annual_return"])),
                _cell(_fmt(c["cost_bps_per_year"], ".0f")),
                _cell(_fmt(c["mean_gross_exposure"], ".2f")),
                _cell(_pct(c["max_participation"])),
            ]
            for c in f["capacity"]
        ],
    )
    sens = _table(
        ["costs ×", "net Sharpe", "net return/yr"],
        [
            [
                f"<td>{c['cost_multiplier']:g}</td>",
                _cell(_fmt(c["net_sharpe"], ".2f")),
                _cell(_pct(c["net_annual_return"])),
            ]
            for c in f["cost_sensitivity"]
        ],
    )
    lb_rows = []
    for r in metrics["contributions"]:
        lb_rows.append(
            [
                f"<td>{html.escape(r['model'])}</td>",
                _cell(_fmt(r["mpc_mean"], ".2e")),
                _cell(_fmt(r["mpc_t_stat"], ".2f")),
                _cell(_fmt(r.get("tc_mean"), ".2e")),
                _cell(_fmt(r.get("own_net_sharpe"), ".2f")),
                _cell(_fmt(r.get("true_skill"), ".2f")),
            ]
        )
    board = _table(
        ["model", "mean MPC", "t", "mean TC", "own net Sharpe", "true skill (simulated)"],
        lb_rows,
    )
    reb = f["rebalances"]
    diag = _table(
        [
            "rebalances",
            "solvers",
            "fallbacks",
            "max |exposure|",
            "max weight/cap",
            "max gross",
            "names cancelled",
        ],
        [
            [
                _cell(_fmt(reb["count"])),
                _cell(html.escape(", ".join(f"{k}: {v}" for k, v in reb["solvers"].items()))),
                _cell(_fmt(reb["fallbacks"])),
                _cell(_fmt(reb["max_abs_exposure"], ".1e"), "fund.rebalances.max_abs_exposure"),
                _cell(_fmt(reb["max_cap_ratio"], ".4f")),
                _cell(_fmt(reb["max_gross"], ".6f")),
                _cell(_fmt(reb["cancelled_names"])),
            ]
        ],
    )
    return (
        f"<h2>Capacity</h2>{cap}<h2>Cost sensitivity</h2>{sens}"
        f"<h2>What each model contributed</h2>{board}"
        f"<h2>Constraint checks (every rebalance)</h2>{diag}"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:0.5em 0 1.2em;font-size:0.85em}"
    "td,th{border:1px solid #ccc;padding:0.25em 0.5em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}svg{max-width:100%;height:auto}"
    ".warn{background:#fff3cd;padding:0.5em 1em;border-left:4px solid #e69f00}"
    "small{color:#666}"
)


def render_html(result: FundResult) -> str:
    """The report page (no external resources)."""
    m = result.metrics
    run = m["run"]
    warnings = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in m["warnings"])
    placebo = m["placebo"]
    settings = html.escape(json.dumps(run, indent=1))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>crowdalpha fund backtest</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>The fund: backtest of the meta model</h1>",
        f"<p>{run['first_session']} to {run['last_session']}: {run['sessions']:,} sessions, "
        f"{run['rebalances']:,} rebalances ({run['rebalances_per_year']:.1f} a year), "
        f"{run['mean_universe']:.0f} names on average; construction <b>{run['method']}</b>, "
        f"fund size ${run['aum']:,.0f}, gross {run['gross']:g}, fills at the "
        f"{html.escape(run['fills_at'])} {run['lag_sessions']} session(s) after availability. "
        "Returns are excess returns (cash earns nothing). Periods per year: daily 252, "
        f"weekly 52, per rebalance {run['rebalances_per_year']:.1f}.</p>",
        warnings,
        "<h2>Performance of the fund (stake-weighted meta model)</h2>",
        _headline(m),
        _equity_chart(result),
        _risk_chart(result),
        _annual_chart(result),
        "<h2>Trading, exposures and the signal</h2>",
        _trading(m),
        _exposure_chart(result),
        _ic_chart(result),
        "<h2>Comparisons (same schedule, universe, pipeline and costs)</h2>",
        "<p>Δ net Sharpe: the strategy's minus the fund's, over their common sessions, with a "
        "paired circular-block-bootstrap 95 % interval. The oracle sees the next period's "
        "returns; the hindsight-best model was chosen with the future: neither is investable. "
        f"Placebos: {placebo['significant']} of {placebo['seeds']} seeds have |t| ≥ 2 on "
        "their gross weekly mean.</p>",
        _comparisons(m),
        _capacity_chart(m),
        _small_tables(m),
        _contribution_chart(m),
        f"<h2>Settings</h2><pre>{settings}</pre>",
        "<p><small>crowdalpha.fund — every number on this page is in metrics.json.</small></p>",
        "</body></html>",
    ]
    return "".join(parts)


def latest_book(result: FundResult) -> pd.DataFrame:
    """The fund's latest target book: ``fill_date``, ``ticker``, ``weight`` (a fraction of
    capital; longs positive), largest positions first; empty before any rebalance."""
    targets = result.fund.targets
    if not targets:
        return pd.DataFrame(columns=["fill_date", "ticker", "weight"])
    last = targets[-1]
    panel = result.constructor.panel
    book = pd.DataFrame(
        {
            "fill_date": panel.sessions[last.fill],
            "ticker": panel.tickers[last.names].astype(str),
            "weight": last.weights,
        }
    )
    book = book[book["weight"] != 0]
    order = np.argsort(-np.abs(book["weight"].to_numpy()), kind="stable")
    return book.iloc[order].reset_index(drop=True)


def write_report(result: FundResult, out: str | Path) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.html``, ``daily.csv``, ``rebalances.csv``,
    ``contributions.csv``, ``book.csv`` (the latest rebalance's target weights) and
    ``trades.parquet`` when kept, into the folder ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": folder / "metrics.json",
        "report": folder / "report.html",
        "daily": folder / "daily.csv",
        "rebalances": folder / "rebalances.csv",
        "contributions": folder / "contributions.csv",
        "book": folder / "book.csv",
    }
    paths["metrics"].write_text(
        json.dumps(result.metrics, indent=2, allow_nan=False), encoding="utf-8"
    )
    paths["report"].write_text(render_html(result), encoding="utf-8")
    result.fund.ledger.daily.to_csv(paths["daily"])
    result.fund.diagnostics.merge(
        result.fund.ledger.rebalances, left_on="fill_date", right_on="date", how="left"
    ).drop(columns=["date"]).to_csv(paths["rebalances"], index=False)
    result.contributions.to_csv(paths["contributions"], index=False)
    latest_book(result).to_csv(paths["book"], index=False)
    if result.fund.ledger.trades is not None:
        paths["trades"] = folder / "trades.parquet"
        result.fund.ledger.trades.to_parquet(paths["trades"], index=False)
    return paths
