"""The report's governance section: what the bots' governance changed over a run, and
whether it helped the meta model.

For each run with governance (:mod:`crowdalpha.simulation.governance_bots`):

- ``proposals`` and their outcomes, the settings changed (first round's → last round's),
  and the votes by bot kind;
- ``meta_model``: the meta model's CORR in the rounds before the first round a passed change
  can reach it and in the rounds from it on (the meta model is stake-weighted, so a payout
  rule reaches it only when the first round paid by the new rule has resolved and the bots
  restake: ``first_affected_round``), each as mean ± standard error (std / √n), and
  their difference with its standard error (Welch). Where the same tournament ran without
  governance (same policy, seed and bots, no limits), the paired per-round difference
  governance − none over the changed rounds too: the cleaner comparison, since both runs
  saw the same eras (its rounds are serially correlated, as stakes carry over, so its
  standard error understates the noise). ``verdict``: ``helped`` / ``hurt`` when the
  difference is more than two standard errors from zero, else ``no detectable effect``
  (the noise is stated, not hidden).
"""

from __future__ import annotations

import html
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["analyze_governance", "governance_html", "mean_se"]


def mean_se(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean, standard error (std / √n, sample std) and n of ``values``."""
    n = len(values)
    if n == 0:
        return {"mean": None, "se": None, "n": 0}
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(n) if n > 1 else None
    return {"mean": mean, "se": se, "n": n}


def _verdict(diff: float | None, se: float | None) -> str:
    if diff is None or se is None:
        return "not enough rounds to tell"
    if se == 0:
        return "no change" if diff == 0 else ("helped" if diff > 0 else "hurt")
    if diff > 2 * se:
        return "helped"
    if diff < -2 * se:
        return "hurt"
    return "no detectable effect"


def _meta(record: Mapping[str, Any]) -> dict[int, float]:
    return {m["round"]: m["meta_model"] for m in record["meta"] if m["meta_model"] is not None}


def _one(record: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    gov = record["governance"]
    configs = gov["round_configs"]
    first, last = (configs[0], configs[-1]) if configs else ({}, {})
    changed = {
        k: [first[k], last.get(k)] for k in first if k != "round" and first[k] != last.get(k)
    }
    states: dict[str, int] = defaultdict(int)
    votes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in gov["proposals"]:
        states[p["state"]] += 1
        for kind, counts in p["votes_by_kind"].items():
            for choice, n in counts.items():
                votes[kind][choice] += n
    # the first round an executed change applied to
    start = min(
        (p["effective_round"] for p in gov["proposals"] if p["effective_round"] is not None),
        default=None,
    )
    # the meta model is stake-weighted: a payout rule reaches it only once a round paid by
    # the new rule has resolved and stakes moved — from the round opened in that week on
    affects = next((r["resolved_week"] for r in record["resolutions"] if r["round"] == start), None)
    meta = _meta(record)
    before = [v for n, v in sorted(meta.items()) if affects is None or n < affects]
    after = [v for n, v in sorted(meta.items()) if affects is not None and n >= affects]
    b, a = mean_se(before), mean_se(after)
    diff = se = None
    if a["mean"] is not None and b["mean"] is not None and a["se"] is not None and b["se"]:
        diff = float(a["mean"]) - float(b["mean"])
        se = math.hypot(float(a["se"]), float(b["se"]))
    answer: dict[str, Any] = {
        "proposals": gov["proposals"],
        "states": dict(states),
        "changed": changed,
        "votes_by_kind": {k: dict(v) for k, v in votes.items()},
        "first_changed_round": start,
        "first_affected_round": affects,
        "meta_model": {
            "before": b,
            "after": a,
            "difference": diff,
            "difference_se": se,
            "verdict": _verdict(diff, se),
        },
        "against_no_governance": None,
    }
    if baseline is not None and affects is not None:
        other = _meta(baseline)
        paired = [meta[n] - other[n] for n in sorted(meta) if n >= affects and n in other]
        unchanged = [meta[n] - other[n] for n in sorted(meta) if n < affects and n in other]
        p = mean_se(paired)
        mean, p_se = p["mean"], p["se"]
        answer["against_no_governance"] = {
            "baseline": baseline["label"],
            "paired_difference": p,
            "before_change_max_abs_difference": max((abs(d) for d in unchanged), default=0.0),
            "verdict": _verdict(
                None if mean is None else float(mean), None if p_se is None else float(p_se)
            ),
        }
    return answer


def analyze_governance(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The governance answer for every run that had governance, keyed by run label."""
    out: dict[str, Any] = {}
    for record in records:
        if not record.get("governance"):
            continue
        baseline = next(
            (
                r
                for r in records
                if not r.get("governance")
                and not r["share_limit"]
                and r["policy"] == record["policy"]
                and r["seed"] == record["seed"]
                and r["rounds"] == record["rounds"]
            ),
            None,
        )
        out[record["label"]] = _one(record, baseline)
    return out


def _f(value: Any, spec: str = "+.4f") -> str:
    return "–" if value is None else format(value, spec)


def _pm(summary: Mapping[str, Any]) -> str:
    return f"{_f(summary['mean'])} ± {_f(summary['se'], '.4f')} (n={summary['n']})"


def governance_html(answers: Mapping[str, Any]) -> str:
    """The section of the HTML report ('' when no run had governance)."""
    if not answers:
        return ""
    parts = [
        "<h2>(e) What did governance change, and did it help the meta model?</h2>"
        "<p>Bots propose and vote by what a change would have paid them over their last "
        "resolved rounds. Meta model CORR as mean ± standard error; a difference is called "
        "an effect only beyond two standard errors.</p>"
    ]
    for label, a in answers.items():
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    p["id"],
                    p.get("week", ""),
                    f"{p.get('proposer', '')} ({p.get('kind', '')})",
                    ", ".join(f"{k} → {v}" for k, v in p["changes"].items()),
                    p["state"],
                    p["effective_round"] or "",
                    "; ".join(
                        f"{k}: " + "/".join(f"{c} {n}" for c, n in sorted(v.items()))
                        for k, v in sorted(p["votes_by_kind"].items())
                    ),
                )
            )
            + "</tr>"
            for p in a["proposals"]
        )
        meta = a["meta_model"]
        changed = ", ".join(f"{k}: {v[0]} → {v[1]}" for k, v in a["changed"].items()) or "nothing"
        text = (
            f"<p>Changed over the run: {html.escape(changed)} (paid from round "
            f"{a['first_changed_round'] or '–'}; stakes, and so the meta model, can respond "
            f"from round {a['first_affected_round'] or '–'}, once that round resolved). "
            "Meta model CORR before: "
            f"{_pm(meta['before'])}; after: {_pm(meta['after'])}; difference "
            f"{_f(meta['difference'])} ± {_f(meta['difference_se'], '.4f')}: "
            f"{html.escape(meta['verdict'])}.</p>"
        )
        vs = a["against_no_governance"]
        if vs is not None:
            text += (
                f"<p>Against the same tournament without governance ({html.escape(vs['baseline'])}"
                f"), round by round from the first affected round: "
                f"{_pm(vs['paired_difference'])}: {html.escape(vs['verdict'])} (largest "
                f"difference before any change: {vs['before_change_max_abs_difference']:.2g}). "
                "Stakes carry over from round to round, so these differences are correlated "
                "and their standard error is a lower bound: one run is a hint, not proof.</p>"
            )
        parts.append(
            f"<h3>{html.escape(label)}</h3>{text}<table><tr><th>id</th><th>week</th>"
            "<th>proposer</th><th>change</th><th>state</th><th>from round</th>"
            f"<th>votes by kind</th></tr>{rows}</table>"
        )
    return "".join(parts)
