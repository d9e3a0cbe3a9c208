"""The report's Signals section: what each kind of Signals bot scored and earned.

:func:`analyze_signals` reads the ``signals`` part of a run's record
(:func:`crowdalpha.simulation.signals_run.collect_signals`): per bot and per kind, the NMR
paid or burned as a share of the grant, the mean of each score (CORR, Alpha, MPC, …) over
the resolved rounds, and how many rounds had NMR at risk — Signals' stake gate zeroes a
round's stake when the signal churned or turned over too much, or when the model skipped
the previous round. :func:`signals_html` renders it beside Classic's answers.
"""

from __future__ import annotations

import html
import statistics
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from crowdalpha.ledger import NMR
from crowdalpha.simulation.signals_bots import SIGNALS_BOT_KINDS

__all__ = ["SIGNALS_REPORT_METRICS", "analyze_signals", "signals_html"]

#: The scores the section reports, when the rounds have them.
SIGNALS_REPORT_METRICS = ("corr", "alpha", "mpc", "mmc", "fnc")


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def analyze_signals(signals: Mapping[str, Any]) -> dict[str, Any]:
    """Per bot and per kind: NMR gained, return on the grant, mean scores, rounds at risk."""
    by_model = {int(b["model_id"]): b for b in signals["bots"]}
    paid: dict[str, int] = defaultdict(int)
    at_risk: dict[str, int] = defaultdict(int)
    for p in signals["payouts"]:
        name = by_model[int(p["model_id"])]["name"]
        paid[name] += int(p["amount"])
        at_risk[name] += int(int(p["stake_at_risk"]) > 0)
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    scored: dict[str, int] = defaultdict(int)
    for s in signals["scores"]:
        name = by_model[int(s["model_id"])]["name"]
        scored[name] += 1
        for metric in SIGNALS_REPORT_METRICS:
            if s.get(metric) is not None:
                scores[name][metric].append(float(s[metric]))
    bots = []
    for b in signals["bots"]:
        name, grant = b["name"], int(b["grant"])
        bots.append(
            {
                "name": name,
                "kind": b["kind"],
                "noise": b["noise"],
                "grant": str(grant),
                "gained": str(paid[name]),
                "gained_nmr": paid[name] / NMR,
                "return": paid[name] / grant,
                "rounds_scored": scored[name],
                "rounds_at_risk": at_risk[name],
                "mean": {m: _mean(scores[name][m]) for m in SIGNALS_REPORT_METRICS},
            }
        )
    by_kind: dict[str, Any] = {}
    for kind in sorted(
        {b["kind"] for b in bots},
        key=lambda k: SIGNALS_BOT_KINDS.index(k) if k in SIGNALS_BOT_KINDS else 99,
    ):
        members = [b for b in bots if b["kind"] == kind]
        by_kind[kind] = {
            "bots": len(members),
            "gained_nmr": sum(b["gained_nmr"] for b in members),
            "mean_return": statistics.fmean(b["return"] for b in members),
            "rounds_scored": sum(b["rounds_scored"] for b in members),
            "rounds_at_risk": sum(b["rounds_at_risk"] for b in members),
            "mean": {
                m: _mean([v for b in members for v in scores[b["name"]][m]])
                for m in SIGNALS_REPORT_METRICS
            },
        }
    resolutions = signals["resolutions"]
    return {
        "bots": bots,
        "by_kind": by_kind,
        "rounds_resolved": len(resolutions),
        "paid_nmr": sum(int(r["paid"]) for r in resolutions) / NMR,
        "burned_nmr": sum(int(r["burned"]) for r in resolutions) / NMR,
    }


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:+.4f}"


def signals_html(answers: Mapping[str, Any]) -> str:
    """The Signals section: one table per run (by bot kind); empty without Signals."""
    if not answers:
        return ""
    tables = []
    for label, answer in answers.items():
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{cell}</td>"
                for cell in (
                    html.escape(kind),
                    str(v["bots"]),
                    *(_fmt(v["mean"][m]) for m in ("corr", "alpha", "mpc")),
                    f"{v['rounds_at_risk']} / {v['rounds_scored']}",
                    f"{v['gained_nmr']:,.2f}",
                    f"{100 * v['mean_return']:+.1f}%",
                )
            )
            + "</tr>"
            for kind, v in answer["by_kind"].items()
        )
        head = "".join(
            f"<th>{h}</th>"
            for h in (
                "kind",
                "bots",
                "mean CORR",
                "mean Alpha",
                "mean MPC",
                "rounds at risk / scored",
                "NMR gained",
                "mean return",
            )
        )
        tables.append(
            f"<h3>{html.escape(label)}</h3><p>{answer['rounds_resolved']} rounds resolved: "
            f"{answer['paid_nmr']:,.2f} NMR paid, {answer['burned_nmr']:,.2f} burned.</p>"
            f"<table><tr>{head}</tr>{rows}</table>"
        )
    return (
        "<h2>(f) Signals</h2><p>Signals bots beside Classic on the same market: public price "
        "factors (momentum, reversal, volatility) and a private signal with skill. A round "
        "has NMR at risk only when Signals' stake gate lets it (churn under 15 % and turnover "
        "under 25 % against the last five submissions, and a submission the week "
        "before).</p>" + "".join(tables)
    )
