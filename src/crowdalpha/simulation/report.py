"""The economics report: four questions answered with numbers from simulated tournaments.

:func:`analyze` takes the runs' records (:func:`crowdalpha.simulation.runner.collect`) and
answers:

(a) ``skill_pays`` — NMR gained or lost per bot and per bot kind, over time;
(b) ``meta_model`` — the meta model's CORR and Sharpe against the best single model chosen
    on the first rounds (and the one that looked best on validation), the equal-weight
    average and the median model, all on the later rounds;
(c) ``supply`` — minted, burned and circulating NMR week by week, per payout policy;
(d) ``risk_rules`` — the same tournament with and without per-account stake limits.

:func:`render_html` turns the report into one self-contained HTML page (charts as inline
SVG drawn by matplotlib, no scripts, styles or fonts from elsewhere).
"""

from __future__ import annotations

import html
import io
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crowdalpha.ledger import NMR
from crowdalpha.scoring import summarize
from crowdalpha.simulation.governance_report import analyze_governance, governance_html
from crowdalpha.simulation.signals_report import analyze_signals, signals_html

__all__ = ["analyze", "render_html"]

KIND_ORDER = (
    "good",
    "copy",
    "diversified",
    "trained",
    "mediocre",
    "overfit",
    "random",
    "anti",
)


def _nmr(units: int) -> float:
    return float(units) / float(NMR)


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None, "sharpe": None, "max_drawdown": None}
    stats = summarize(pd.Series(list(values), dtype=np.float64))
    column = stats.to_numpy(dtype=np.float64)[:, 0]
    out: dict[str, float | None] = {}
    for name in ("mean", "std", "sharpe", "max_drawdown"):
        value = float(column[list(stats.index).index(name)])
        out[name] = value if np.isfinite(value) else None
    return out


def _models_of(record: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """model id → its bot's record."""
    return {int(mid): bot for bot in record["bots"] for mid in bot["models"].values()}


def _skill_pays(record: Mapping[str, Any]) -> dict[str, Any]:
    rounds = record["rounds"]
    owner = _models_of(record)
    paid: dict[str, list[int]] = {b["name"]: [0] * (rounds + 1) for b in record["bots"]}
    for p in record["payouts"]:
        paid[owner[p["model_id"]]["name"]][p["round"]] += int(p["amount"])
    corrs: dict[str, list[float]] = defaultdict(list)
    for s in record["scores"]:
        if s["corr"] is not None:
            corrs[owner[s["model_id"]]["name"]].append(float(s["corr"]))
    bots = []
    for bot in record["bots"]:
        gained = sum(paid[bot["name"]])
        grant = int(bot["grant"])
        cumulative = np.cumsum(paid[bot["name"]][1:]) / grant
        bots.append(
            {
                "name": bot["name"],
                "kind": bot["kind"],
                "size": bot["size"],
                "staking": bot["staking"],
                "models": len(bot["models"]),
                "grant": str(grant),
                "gained": str(gained),
                "gained_nmr": _nmr(gained),
                "return": gained / grant,
                "mean_corr": statistics.fmean(corrs[bot["name"]]) if corrs[bot["name"]] else None,
                "cumulative_return": [float(v) for v in cumulative],
            }
        )

    def group(key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for value in dict.fromkeys(b[key] for b in bots):
            members = [b for b in bots if b[key] == value]
            returns = [b["return"] for b in members]
            corr = [b["mean_corr"] for b in members if b["mean_corr"] is not None]
            out[value] = {
                "bots": len(members),
                "mean_corr": statistics.fmean(corr) if corr else None,
                "gained": str(sum(int(b["gained"]) for b in members)),
                "gained_nmr": sum(b["gained_nmr"] for b in members),
                "mean_return": statistics.fmean(returns),
                "median_return": statistics.median(returns),
                "share_gained": sum(r > 0 for r in returns) / len(returns),
                "mean_cumulative_return": [
                    float(v) for v in np.mean([b["cumulative_return"] for b in members], axis=0)
                ],
            }
        return out

    by_kind = group("kind")

    def verdict(kind: str, sign: int) -> bool | None:
        if kind not in by_kind:
            return None
        return bool(sign * by_kind[kind]["mean_return"] > 0)

    return {
        "bots": bots,
        "by_kind": by_kind,
        "by_size": group("size"),
        "by_staking": group("staking"),
        "good_gain": verdict("good", 1),
        "random_loses": verdict("random", -1),
        "overfit_loses": verdict("overfit", -1),
        "anti_loses": verdict("anti", -1),
    }


def _meta_model(record: Mapping[str, Any], selection_rounds: int) -> dict[str, Any]:
    rounds = record["rounds"]
    k = selection_rounds if 0 < selection_rounds < rounds else 0
    names = {int(m): n for m, n in record["model_names"].items()}
    table = (
        pd.DataFrame(record["scores"])
        .pivot_table(index="round", columns="model_id", values="corr")
        .sort_index()
        .rename(columns=names)
    )
    chosen_rounds = list(range(1, k + 1)) if k else list(range(1, rounds + 1))
    later = list(range(k + 1, rounds + 1))
    evaluation = table.reindex(later)
    meta = pd.DataFrame(record["meta"]).set_index("round").reindex(later)

    def model_entry(name: str, why: str) -> dict[str, Any]:
        return {
            "model": name,
            "chosen_by": why,
            **_summary(evaluation[name].dropna().tolist()),
            "per_round": [float(v) for v in evaluation[name].fillna(0.0)],
        }

    selection_means = table.reindex(chosen_rounds).mean()
    best_selected = str(selection_means.idxmax())
    validation = record["validation"]  # empty on sources without synthetic validation eras
    best_validation = max(validation, key=lambda n: validation[n]) if validation else None
    eval_means = evaluation.mean().sort_values(kind="stable")
    median_model = str(eval_means.index[(len(eval_means) - 1) // 2])
    hindsight = str(eval_means.idxmax())
    meta_values = [v for v in meta["meta_model"].tolist() if v is not None and np.isfinite(v)]
    equal_values = meta["equal_weight"].astype(float).tolist()
    result: dict[str, Any] = {
        "selection_rounds": chosen_rounds,
        "evaluation_rounds": later,
        "meta_model": {**_summary(meta_values), "per_round": meta_values},
        "equal_weight": {**_summary(equal_values), "per_round": equal_values},
        "best_on_selection_rounds": model_entry(
            best_selected, f"highest mean CORR over rounds 1–{k}" if k else "all rounds"
        ),
        "best_on_validation": None
        if best_validation is None
        else {
            **model_entry(best_validation, "highest CORR on the validation eras"),
            "validation_corr": validation[best_validation],
        },
        "median_model": model_entry(median_model, "median mean CORR on the evaluation rounds"),
        "best_in_hindsight": model_entry(hindsight, "highest mean CORR on the evaluation rounds"),
        "median_of_models_per_round": _summary(evaluation.median(axis=1).tolist()),
    }
    meta_mean = result["meta_model"]["mean"]
    best_mean = result["best_on_selection_rounds"]["mean"]
    meta_sharpe = result["meta_model"]["sharpe"]
    best_sharpe = result["best_on_selection_rounds"]["sharpe"]
    result["meta_beats_best_selected_corr"] = (
        None if meta_mean is None or best_mean is None else bool(meta_mean > best_mean)
    )
    result["meta_beats_best_selected_sharpe"] = (
        None if meta_sharpe is None or best_sharpe is None else bool(meta_sharpe > best_sharpe)
    )
    return result


def _supply(record: Mapping[str, Any]) -> dict[str, Any]:
    weeks = record["supply"]
    first, last = weeks[0], weeks[-1]
    minted = int(last["minted"]) - int(first["minted"])
    burned = int(last["burned"]) - int(first["burned"])
    change = int(last["circulating"]) - int(first["circulating"])
    return {
        "weeks": [
            {
                "week": w["week"],
                "minted": w["minted"],
                "burned": w["burned"],
                "circulating": w["circulating"],
                "minted_nmr": _nmr(int(w["minted"])),
                "burned_nmr": _nmr(int(w["burned"])),
                "circulating_nmr": _nmr(int(w["circulating"])),
            }
            for w in weeks
        ],
        "per_round": [
            {
                "round": r["round"],
                "minted": r["minted"],
                "burned": r["burned"],
                "paid": r["paid"],
                "payout_factor": r["payout_factor"],
            }
            for r in sorted(record["resolutions"], key=lambda r: r["round"])
        ],
        "initial_circulating": first["circulating"],
        "minted": str(minted),
        "burned": str(burned),
        "circulating_change": str(change),
        "minted_nmr": _nmr(minted),
        "burned_nmr": _nmr(burned),
        "circulating_change_nmr": _nmr(change),
        "growth": change / int(first["circulating"]) if int(first["circulating"]) else None,
        "identity_holds": minted - burned == change,
    }


def _risk(record: Mapping[str, Any], skill: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
    returns = [b["return"] for b in skill["bots"]]
    single = [b["return"] for b in skill["bots"] if b["models"] == 1 and b["kind"] == "good"]
    spread = [b["return"] for b in skill["bots"] if b["models"] > 1]
    at_risk: dict[int, list[int]] = defaultdict(list)
    for p in record["payouts"]:
        at_risk[p["round"]].append(int(p["stake_at_risk"]))
    hhi = [
        sum((s / sum(v)) ** 2 for s in v) for v in at_risk.values() if sum(v) > 0
    ]  # stake concentration of each round
    weekly = _supply(record)
    return {
        "share_limit": record["share_limit"],
        "accounts": len(returns),
        "mean_return": statistics.fmean(returns),
        "median_return": statistics.median(returns),
        "std_return": statistics.pstdev(returns),
        "p5_return": float(np.percentile(returns, 5)),
        "worst_return": min(returns),
        "share_lost_half": sum(r <= -0.5 for r in returns) / len(returns),
        "share_lost": sum(r < 0 for r in returns) / len(returns),
        "good_single_model_std_return": statistics.pstdev(single) if single else None,
        "diversified_std_return": statistics.pstdev(spread) if spread else None,
        "diversified_mean_return": statistics.fmean(spread) if spread else None,
        "mean_stake_at_risk_nmr": statistics.fmean(_nmr(sum(v)) for v in at_risk.values())
        if at_risk
        else 0.0,
        "stake_hhi": statistics.fmean(hhi) if hhi else None,
        "burned_nmr": weekly["burned_nmr"],
        "minted_nmr": weekly["minted_nmr"],
        "meta_model_corr": meta["meta_model"]["mean"],
        "meta_model_sharpe": meta["meta_model"]["sharpe"],
        "refused_stake_changes": sum(b["refused_stake_changes"] for b in record["bots"]),
        "returns": returns,
    }


def analyze(records: Sequence[Mapping[str, Any]], *, selection_rounds: int) -> dict[str, Any]:
    """The four answers for every run (keyed by run label; risk rules keyed by policy), and
    Signals' (``signals``) for the runs that had Signals beside Classic."""
    answers: dict[str, Any] = {"skill_pays": {}, "meta_model": {}, "supply": {}, "risk_rules": {}}
    for record in records:
        label = record["label"]
        if record.get("signals"):  # (e), only for runs with Signals beside Classic
            answers.setdefault("signals", {})[label] = analyze_signals(record["signals"])
        skill = _skill_pays(record)
        meta = _meta_model(record, selection_rounds)
        answers["skill_pays"][label] = skill
        answers["meta_model"][label] = meta
        answers["supply"][label] = _supply(record)
        policy_rules = answers["risk_rules"].setdefault(record["policy"], {})
        key = "with_limits" if record["share_limit"] else "without_limits"
        policy_rules[key] = _risk(record, skill, meta)
    governance = analyze_governance(records)
    if governance:
        answers["governance"] = governance
    return answers


# -- HTML ---------------------------------------------------------------------------------

_COLORS = {
    "good": "#1b7837",
    "copy": "#5aae61",
    "diversified": "#2166ac",
    "mediocre": "#b8a000",
    "overfit": "#e08214",
    "random": "#878787",
    "anti": "#b2182b",
    "trained": "#762a83",
}


def _svg(fig: Any) -> str:
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": "crowdalpha", "svg.fonttype": "path"}):
        fig.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(cols: int, *, height: float = 3.4) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * cols, height), layout="constrained")
    axes = fig.subplots(1, cols, squeeze=False)[0]
    return fig, list(axes)


def _skill_chart(report: Mapping[str, Any]) -> str:
    skill = report["answers"]["skill_pays"]
    fig, axes = _figure(len(skill))
    for ax, (label, answer) in zip(axes, skill.items(), strict=True):
        peak = 0.0
        for kind in KIND_ORDER:
            if kind not in answer["by_kind"]:
                continue
            curve = 100 * np.asarray(answer["by_kind"][kind]["mean_cumulative_return"])
            peak = max(peak, float(np.abs(curve).max(initial=0.0)))
            ax.plot(np.arange(1, len(curve) + 1), curve, label=kind, color=_COLORS[kind])
        if peak > 1000:
            ax.set_yscale("symlog", linthresh=100)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(f"{label}: mean return by bot kind")
        ax.set_xlabel("round (resolved)")
        ax.set_ylabel("cumulative payouts, % of grant")
    axes[0].legend(fontsize=7)
    return _svg(fig)


def _meta_chart(report: Mapping[str, Any]) -> str:
    meta = report["answers"]["meta_model"]
    fig, axes = _figure(len(meta))
    parts = (
        ("meta_model", "meta model"),
        ("best_on_selection_rounds", "best (first rounds)"),
        ("best_on_validation", "best (validation)"),
        ("equal_weight", "equal weight"),
        ("median_model", "median model"),
    )
    for ax, (label, answer) in zip(axes, meta.items(), strict=True):
        for key, name in parts:
            if answer[key] is None:
                continue
            values = np.asarray(answer[key]["per_round"], dtype=float)
            rounds = answer["evaluation_rounds"][: len(values)]
            ax.plot(rounds, np.cumsum(values), label=name)
        ax.set_title(f"{label}: cumulative CORR, evaluation rounds")
        ax.set_xlabel("round")
        ax.set_ylabel("cumulative CORR")
    axes[0].legend(fontsize=7)
    return _svg(fig)


def _supply_chart(report: Mapping[str, Any]) -> str:
    supply = report["answers"]["supply"]
    fig, axes = _figure(len(supply))
    for ax, (label, answer) in zip(axes, supply.items(), strict=True):
        weeks = [w["week"] for w in answer["weeks"]]
        for key, color in (("minted", "#1b7837"), ("burned", "#b2182b"), ("circulating", "k")):
            ax.plot(weeks, [w[f"{key}_nmr"] for w in answer["weeks"]], label=key, color=color)
        top = max(w["circulating_nmr"] for w in answer["weeks"])
        if top > 100 * answer["weeks"][0]["circulating_nmr"]:
            ax.set_yscale("symlog", linthresh=max(1.0, answer["weeks"][0]["circulating_nmr"]))
        ax.set_title(f"{label}: NMR supply")
        ax.set_xlabel("week")
        ax.set_ylabel("NMR")
    axes[0].legend(fontsize=7)
    return _svg(fig)


def _risk_chart(report: Mapping[str, Any]) -> str:
    risk = report["answers"]["risk_rules"]
    fig, axes = _figure(len(risk))
    for ax, (policy, answer) in zip(axes, risk.items(), strict=True):
        labels = [k for k in ("without_limits", "with_limits") if k in answer]
        data = [100 * np.asarray(answer[k]["returns"]) for k in labels]
        ax.boxplot(data, tick_labels=[k.replace("_", " ") for k in labels])
        if max(float(np.abs(d).max(initial=0.0)) for d in data) > 1000:
            ax.set_yscale("symlog", linthresh=100)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(f"{policy}: account returns")
        ax.set_ylabel("% of grant")
    return _svg(fig)


def _fmt(value: Any, spec: str = ".4f") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, spec)
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+,.1f}%"


def render_html(report: Mapping[str, Any]) -> str:
    """One self-contained page: the four answers as tables and inline SVG charts."""
    answers = report["answers"]
    config = report["config"]
    sections = []

    skill_tables = []
    for label, answer in answers["skill_pays"].items():
        rows = [
            [
                html.escape(kind),
                str(v["bots"]),
                _fmt(v["mean_corr"]),
                f"{v['gained_nmr']:,.2f}",
                _pct(v["mean_return"]),
                _pct(v["median_return"]),
                f"{100 * v['share_gained']:.0f}%",
            ]
            for kind, v in sorted(
                answer["by_kind"].items(),
                key=lambda kv: KIND_ORDER.index(kv[0]) if kv[0] in KIND_ORDER else 99,
            )
        ]
        skill_tables.append(
            f"<h3>{html.escape(label)}</h3>"
            + _table(
                ["kind", "bots", "mean CORR", "NMR gained", "mean return", "median", "gained"],
                rows,
            )
            + "<p>good bots gain: {}; random lose: {}; overfit lose: {}; anti lose: {}</p>".format(
                *(
                    _fmt(answer[k])
                    for k in ("good_gain", "random_loses", "overfit_loses", "anti_loses")
                )
            )
        )
    sections.append(
        "<h2>(a) Does skill pay?</h2>"
        "<p>Payouts summed per bot (all its models), as a share of the NMR it was granted.</p>"
        + "".join(skill_tables)
        + _skill_chart(report)
    )

    meta_tables = []
    for label, answer in answers["meta_model"].items():
        rows = []
        for key, name in (
            ("meta_model", "meta model (stake-weighted)"),
            ("best_on_selection_rounds", "best single model, chosen on the first rounds"),
            ("best_on_validation", "best single model, chosen on validation"),
            ("equal_weight", "equal-weight average of all models"),
            ("median_model", "median model"),
            ("best_in_hindsight", "best single model in hindsight"),
        ):
            v = answer[key]
            if v is None:
                continue
            rows.append(
                [
                    html.escape(name),
                    html.escape(str(v.get("model", ""))),
                    _fmt(v["mean"]),
                    _fmt(v["std"]),
                    _fmt(v["sharpe"], ".2f"),
                    _fmt(v["max_drawdown"]),
                ]
            )
        rounds = answer["evaluation_rounds"]
        span = f"rounds {rounds[0]}–{rounds[-1]}" if rounds else "no rounds"
        meta_tables.append(
            f"<h3>{html.escape(label)} (evaluated on {span})</h3>"
            + _table(["", "model", "mean CORR", "std", "Sharpe", "max drawdown"], rows)
        )
    sections.append(
        "<h2>(b) Is the meta model better than its parts?</h2>"
        + "".join(meta_tables)
        + _meta_chart(report)
    )

    supply_rows = [
        [
            html.escape(label),
            f"{float(a['weeks'][0]['circulating_nmr']):,.2f}",
            f"{a['minted_nmr']:,.2f}",
            f"{a['burned_nmr']:,.2f}",
            f"{a['circulating_change_nmr']:,.2f}",
            _pct(a["growth"]),
            _fmt(a["identity_holds"]),
        ]
        for label, a in answers["supply"].items()
    ]
    sections.append(
        "<h2>(c) What happens to supply?</h2>"
        + _table(
            [
                "run",
                "circulating at start",
                "minted",
                "burned",
                "circulating change",
                "growth",
                "minted − burned = change",
            ],
            supply_rows,
        )
        + _supply_chart(report)
    )

    risk_rows = []
    for policy, answer in answers["risk_rules"].items():
        for key in ("without_limits", "with_limits"):
            if key not in answer:
                continue
            v = answer[key]
            risk_rows.append(
                [
                    html.escape(policy),
                    "none" if v["share_limit"] is None else f"{v['share_limit']} of holdings",
                    _pct(v["mean_return"]),
                    _pct(v["median_return"]),
                    _pct(v["std_return"]),
                    _pct(v["p5_return"]),
                    _pct(v["worst_return"]),
                    f"{100 * v['share_lost_half']:.0f}%",
                    f"{v['mean_stake_at_risk_nmr']:,.1f}",
                    f"{v['burned_nmr']:,.1f}",
                    _fmt(v["meta_model_corr"]),
                ]
            )
    sections.append(
        "<h2>(d) What do the article's risk rules change?</h2>"
        "<p>Per-account stake limit as a share of holdings (wallet + stakes + pending); "
        "bots respect it, and diversified accounts spread over three models.</p>"
        + _table(
            [
                "policy",
                "limit per model",
                "mean return",
                "median",
                "std",
                "5th pct",
                "worst",
                "lost ≥ half",
                "mean NMR at risk",
                "burned",
                "meta CORR",
            ],
            risk_rows,
        )
        + _risk_chart(report)
    )

    sections.append(governance_html(answers.get("governance", {})))
    sections.append(signals_html(answers.get("signals", {})))

    title = "crowdalpha economics report"
    settings = html.escape(
        f"{config['rounds']} weekly rounds, {config['bots']} bots ({config['models']} models), "
        f"{config['rows']} rows per round, seed {config['seed']}, policies "
        f"{', '.join(config['policies'])}"
    )
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1em}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}svg{max-width:100%;height:auto}"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{style}</style></head><body>"
        f"<h1>{title}</h1><p>{settings}</p>" + "".join(sections) + "</body></html>\n"
    )
