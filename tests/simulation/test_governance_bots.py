"""Governing bots: each judges a change by what it would have paid it; in a short simulated
tournament they propose, vote, change the payout rules from the right round, and the
report says what changed and what it did to the meta model, with its noise."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from crowdalpha.governance import verify
from crowdalpha.ledger import nmr
from crowdalpha.payouts import payout_factor, weighted_payout
from crowdalpha.simulation import (
    RunSpec,
    TournamentRun,
    analyze,
    collect,
    render_html,
    run_tournament,
)
from crowdalpha.simulation.governance_bots import Resolved, interest
from crowdalpha.simulation.governance_report import analyze_governance, mean_se
from crowdalpha.tournament import CLASSIC

BASE = CLASSIC.round_config
SKILLED, COPY, ANTI = 1, 2, 3
#: two resolved rounds each, at a payout factor of 72,000 / 80,000 = 0.9: a skilled model
#: (paid at the clip), a copy of one (CORR but negative MMC), an anti model
HISTORY = {
    SKILLED: [Resolved(1, nmr(100), {"corr": 0.04, "mmc": 0.02}, nmr(80_000))] * 2,
    COPY: [Resolved(1, nmr(100), {"corr": 0.03, "mmc": -0.01}, nmr(80_000))] * 2,
    ANTI: [Resolved(1, nmr(100), {"corr": -0.04, "mmc": -0.015}, nmr(80_000))] * 2,
}


def _by_hand(model: int, config: Any) -> int:
    """The model's payouts over HISTORY under ``config``, from crowdalpha.payouts."""
    return sum(
        weighted_payout(
            r.stake_at_risk,
            dict(r.scores),  # type: ignore[arg-type]
            dict(config.multipliers),
            factor=payout_factor(config.threshold, r.total_at_risk),
            clip=config.clip,
        )
        for r in HISTORY[model]
    )


@pytest.mark.parametrize(
    ("changes", "skilled", "copy", "anti"),
    [
        ({"clip": "0.06"}, 1, 0, 0),  # only the clipped one feels the clip
        ({"multiplier.mmc": "1.5"}, -1, 1, 1),  # less MMC: the copy and the anti gain
        ({"multiplier.corr": "0.75"}, 0, 1, -1),  # the skilled one stays at the clip
        ({"threshold": str(nmr(54_000))}, -1, 1, 1),  # a smaller factor shrinks burns too
    ],
)
def test_each_bot_favours_what_would_have_paid_it(
    changes: dict[str, str], skilled: int, copy: int, anti: int
) -> None:
    changed = BASE.with_values(changes)
    for model, sign in ((SKILLED, skilled), (COPY, copy), (ANTI, anti)):
        gain = interest(HISTORY, [model], BASE, changed)
        assert gain == _by_hand(model, changed) - _by_hand(model, BASE)
        assert (gain > 0) - (gain < 0) == sign, (changes, model)
    both = interest(HISTORY, [SKILLED, ANTI], BASE, changed)
    assert both == sum(interest(HISTORY, [m], BASE, changed) for m in (SKILLED, ANTI))
    assert interest({}, [SKILLED], BASE, changed) == 0  # no history, no opinion


ROSTER = (("good", 2), ("mediocre", 1), ("random", 2), ("copy", 1), ("anti", 2))
ROUNDS = 16


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TournamentRun, Any, Any]]:
    common: dict[str, Any] = {"rounds": ROUNDS, "roster": ROSTER, "seed": 1, "rows": 200}
    base = run_tournament(RunSpec("numerai", **common), tmp_path_factory.mktemp("base"))
    governed = run_tournament(
        RunSpec("numerai+governance", governance=True, **common), tmp_path_factory.mktemp("gov")
    )
    records = (collect(base), collect(governed))
    yield governed, records[0], records[1]
    for run in (base, governed):
        run.tournament.close()


def test_bots_change_the_rules_from_the_round_after_the_timelock(
    runs: tuple[TournamentRun, Any, Any],
) -> None:
    run, _, record = runs
    assert run.electorate is not None
    gov = run.electorate.governance
    proposals = record["governance"]["proposals"]
    executed = sorted((p for p in proposals if p["state"] == "executed"), key=lambda p: p["id"])
    assert executed, "no proposal passed in the short run"
    assert {p["state"] for p in proposals} <= {"executed", "rejected", "no_quorum", "voting"}
    # replaying the executed changes from their effective rounds gives every round's rules
    config = BASE
    for n in range(1, ROUNDS + 1):
        for p in executed:
            if p["effective_round"] == n:
                config = config.with_values(p["changes"])
        assert run.tournament.round(n).config == config, n
    for p in proposals:
        info = gov.proposal(p["id"])
        passed = info.tally.votes_for > info.tally.votes_against
        assert (p["state"] == "executed") == passed or p["state"] == "voting"
        proposer = next(b for b in run.bots if b.name == p["proposer"])
        assert p["votes_by_kind"][proposer.kind].get("for", 0) >= 1  # it votes its interest
        # a bot votes once per proposal: its vote count equals the voters in the tally
        assert sum(sum(v.values()) for v in p["votes_by_kind"].values()) == info.tally.voters
    assert verify(gov).ok and run.tournament.check_ledger().ok


def test_the_report_states_the_change_and_the_meta_model_with_its_noise(
    runs: tuple[TournamentRun, Any, Any],
) -> None:
    _, baseline, record = runs
    answer = analyze_governance([baseline, record])
    assert set(answer) == {"numerai+governance"}
    a = answer["numerai+governance"]
    configs = record["governance"]["round_configs"]
    assert a["changed"] == {
        k: [configs[0][k], configs[-1][k]]
        for k in configs[0]
        if k != "round" and configs[0][k] != configs[-1][k]
    }
    start = a["first_changed_round"]
    assert start == min(p["effective_round"] for p in a["proposals"] if p["effective_round"])
    affects = a["first_affected_round"]
    resolved = {r["round"]: r["resolved_week"] for r in record["resolutions"]}
    assert affects == resolved[start] > start
    meta = {m["round"]: m["meta_model"] for m in record["meta"]}
    before, after = a["meta_model"]["before"], a["meta_model"]["after"]
    assert before == mean_se([meta[n] for n in range(1, affects)])
    assert after == mean_se([meta[n] for n in range(affects, ROUNDS + 1)])
    assert a["meta_model"]["difference"] == pytest.approx(after["mean"] - before["mean"])
    assert a["meta_model"]["difference_se"] > 0
    assert a["meta_model"]["verdict"] in ("helped", "hurt", "no detectable effect")
    # the same eras and bots without governance: identical until stakes could respond
    vs = a["against_no_governance"]
    assert vs["baseline"] == "numerai" and vs["before_change_max_abs_difference"] == 0
    other = {m["round"]: m["meta_model"] for m in baseline["meta"]}
    paired = [meta[n] - other[n] for n in range(affects, ROUNDS + 1)]
    assert vs["paired_difference"] == mean_se(paired)
    config = {"rounds": ROUNDS, "bots": 8, "models": 8, "rows": 200, "seed": 1}
    answers = analyze([baseline, record], selection_rounds=5)
    assert answers["governance"] == answer
    page = render_html({"config": config | {"policies": ["numerai"]}, "answers": answers})
    assert "(e) What did governance change" in page and "± " in page


def test_mean_se_is_the_standard_error_of_the_mean() -> None:
    assert mean_se([]) == {"mean": None, "se": None, "n": 0}
    out = mean_se([1.0, 2.0, 3.0, 4.0])
    assert out["mean"] == 2.5 and out["n"] == 4
    assert out["se"] == pytest.approx(float(Decimal("1.2909944487358056") / 2))
