"""Clock jumps: a tick missed for weeks catches up in order, once; a clock that jumps
backwards undoes nothing and repeats nothing."""

from __future__ import annotations

from datetime import timedelta

from tests.faults.report import record
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.ledger import nmr
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament

WEEK = timedelta(days=7)


def test_a_far_jump_forward_then_back_catches_up_once(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData, db_kind: str
) -> None:
    t = tournament
    acct = t.create_account("joan", "joan@example.org")
    t.grant(acct.id, nmr(500))
    models = [t.create_model(acct.id, f"jo_{i}").id for i in range(2)]
    start = clock.advance(timedelta(hours=1))
    assert t.tick().opened == [1]
    ids = t.live_ids(1)
    for i, m in enumerate(models):
        t.increase_stake(m, nmr(20))
        t.submit(m, predictions_csv(ids, skilled(data, 1, noise=0.3, seed=i)))

    # the server was down for ten weeks: one tick closes and resolves round 1 (in that
    # order) and opens the round due now; the rounds missed entirely are not opened late
    later = start + 10 * WEEK
    report = t.tick(later)
    assert report.closed == [1] and [r.round_number for r in report.resolved] == [1]
    assert report.opened == [11]
    assert [r.number for r in t.rounds()] == [1, 11]
    state = (t.rounds(), t.payouts(), t.supply(), [t.stake_info(m) for m in models])
    assert len(t.payouts(round_number=1)) == len(models)

    # the clock jumps back three days after the start, then forward again: nothing moves
    for when in (start + timedelta(days=3), start, later, later + timedelta(minutes=1)):
        assert not t.tick(when).changed
    assert (t.rounds(), t.payouts(), t.supply(), [t.stake_info(m) for m in models]) == state
    assert t.check_ledger().ok
    record("clock jump +10 weeks, then back", db_kind, double_resolutions=0, lost=0)
