"""The schedule, several rounds in flight, missed rounds, reputation and the leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.errors import InvalidParameterError, NotFoundError, RoundStateError
from crowdalpha.ledger import nmr
from crowdalpha.tournament import (
    ManualClock,
    Schedule,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
)

WEEK = timedelta(days=7)


def test_schedule_arithmetic() -> None:
    s = Schedule()
    assert s.opens(1) == s.anchor and s.opens(3) == s.anchor + 2 * WEEK
    assert s.closes(1) == s.anchor + WEEK and s.resolves(1) == s.anchor + 5 * WEEK
    assert s.latest_due(s.anchor - timedelta(seconds=1)) == 0
    assert s.latest_due(s.anchor) == 1
    assert s.latest_due(s.anchor + WEEK - timedelta(seconds=1)) == 1
    assert s.latest_due(s.anchor + WEEK) == 2
    daily = Schedule.daily()
    assert daily.latest_due(daily.anchor + timedelta(days=10, hours=1)) == 11
    with pytest.raises(InvalidParameterError):
        Schedule(anchor=datetime(2026, 1, 1))
    with pytest.raises(InvalidParameterError):
        Schedule(period=timedelta(0))


def test_round_numbers_count_from_the_competition_s_start() -> None:
    s = Schedule()
    started = s.numbered_from(47)  # round 1 is the calendar's slot 48
    assert started.opens(1) == s.opens(48) and started.closes(2) == s.closes(49)
    assert started.latest_due(s.opens(48)) == 1 and s.numbered_from(0) is s
    # a competition starting now opens the slot due now as its round 1 …
    assert s.first_slot(s.opens(48) + timedelta(days=3)) == 48
    assert s.first_slot(s.anchor - timedelta(seconds=1)) is None  # … none is due yet
    short = Schedule(window=timedelta(days=1))  # the due slot closed: wait for the next
    assert short.first_slot(short.opens(5) + timedelta(days=2)) is None
    assert short.first_slot(short.opens(6)) == 6


def test_several_rounds_in_flight_and_each_resolves_on_its_own_date(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    t = tournament
    acct = t.create_account("kim", "kim@example.org")
    model = t.create_model(acct.id, "kim_1")
    t.grant(acct.id, nmr(100))
    t.increase_stake(model.id, nmr(100))
    clock.advance(timedelta(hours=1))
    for week in range(6):
        t.tick()
        current = t.current_round()
        assert current is not None and current.number == week + 1
        ids = t.live_ids(current.number)
        t.submit(model.id, predictions_csv(ids, skilled(data, current.number, 0.5, week)))
        clock.advance(WEEK)
    t.tick()
    states = {r.number: r.state for r in t.rounds()}
    # round 1 closed 5 weeks ago (resolution delay 4 weeks): resolved; 2 due exactly now
    assert states[1] == "resolved" and states[2] == "resolved"
    assert states[3] == "scoring" and states[4] == "scoring" and states[5] == "scoring"
    assert states[6] == "closed" and states[7] == "open"
    assert len([r for r in t.rounds() if r.state != "resolved"]) == 5
    assert {p.round_number for p in t.payouts(model_id=model.id)} == {1, 2}
    with pytest.raises(RoundStateError, match="not final"):
        t.resolve(3)
    with pytest.raises(RoundStateError, match="only closed rounds"):
        t.resolve(1)
    with pytest.raises(NotFoundError):
        t.round(99)
    assert t.check_ledger().ok


def test_missed_rounds_are_skipped_not_opened_late(
    tournament: Tournament, clock: ManualClock
) -> None:
    t = tournament
    clock.advance(timedelta(hours=1))
    assert t.tick().opened == [1]
    clock.advance(3 * WEEK + timedelta(days=1))  # the operator's server was down
    report = t.tick()
    assert report.opened == [4] and report.closed == [1]
    assert [r.number for r in t.rounds()] == [1, 4]


def test_a_daily_tournament(make_tournament, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    schedule = Schedule.daily(anchor=clock.now() + timedelta(hours=1))
    t: Tournament = make_tournament(TournamentConfig(schedule=schedule))
    clock.advance(timedelta(hours=1))
    assert t.tick().opened == [1]
    clock.advance(timedelta(days=1))
    assert t.tick().opened == [2]
    assert t.round(1).state == "closed"


def test_leaderboard_and_reputation(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    t = tournament
    lee = t.create_account("lee", "lee@example.org")
    max_ = t.create_account("max", "max@example.org")
    good = t.create_model(lee.id, "lee_good")
    meh = t.create_model(lee.id, "lee_meh")
    bad = t.create_model(max_.id, "max_bad")
    t.grant(lee.id, nmr(300))
    t.grant(max_.id, nmr(300))
    t.increase_stake(good.id, nmr(100))
    t.increase_stake(meh.id, nmr(50))
    t.increase_stake(bad.id, nmr(200))
    clock.advance(timedelta(hours=1))
    for week in range(3):
        t.tick()
        number = t.current_round().number  # type: ignore[union-attr]
        ids = t.live_ids(number)
        t.submit(good.id, predictions_csv(ids, skilled(data, number, 0.2, 10 + week)))
        t.submit(meh.id, predictions_csv(ids, skilled(data, number, 4.0, 20 + week)))
        t.submit(bad.id, predictions_csv(ids, 1 - skilled(data, number, 0.2, 30 + week)))
        clock.advance(WEEK)
    clock.set(t.round(3).closes_at + timedelta(days=28))
    t.tick()
    board = t.leaderboard()
    assert board[0].model_name == "lee_good"
    assert board[-1].model_name == "max_bad"
    assert [r.rank for r in board] == [1, 2, 3]
    finals = {m: [s.corr for s in t.scores(model_id=m) if s.final] for m in (good.id, bad.id)}
    top = board[0]
    assert top.rounds == 3 and top.reputation == pytest.approx(float(np.mean(finals[good.id])))
    by_stake = t.leaderboard(by="stake")
    assert by_stake[0].model_name == "max_bad" and by_stake[0].stake == t.stake_info(bad.id).stake
    # a page of the board keeps the overall ranks
    assert t.leaderboard(limit=1, offset=1) == board[1:2]
    assert t.leaderboard(offset=2) == board[2:] and t.leaderboard(offset=3) == []
    with pytest.raises(InvalidParameterError, match="negative"):
        t.leaderboard(offset=-1)
    rep = t.account_reputation(lee.id)
    rows = {r.model_id: r for r in board}
    want = (
        rows[good.id].reputation * rows[good.id].stake  # type: ignore[operator]
        + rows[meh.id].reputation * rows[meh.id].stake  # type: ignore[operator]
    ) / (rows[good.id].stake + rows[meh.id].stake)
    assert rep == pytest.approx(want)
    # a year later nothing is inside the reputation window
    clock.advance(timedelta(days=400))
    assert all(r.reputation is None for r in t.leaderboard())
    assert t.account_reputation(lee.id) is None
    with pytest.raises(InvalidParameterError):
        t.leaderboard(by="luck")


def test_synthetic_data_is_deterministic(data: SyntheticRoundData) -> None:
    again = SyntheticRoundData(seed=7, rows=data.rows)
    assert data.live_ids(3) == again.live_ids(3) != data.live_ids(4)
    assert (
        data.publish(3, datetime(2026, 1, 1, tzinfo=UTC)).files
        == again.publish(3, datetime(2026, 1, 1, tzinfo=UTC)).files
    )
    closes = datetime(2026, 1, 10, tzinfo=UTC)
    ids = data.live_ids(3)
    assert data.outcome(3, ids, closes_at=closes, now=closes) is None
    provisional = data.outcome(3, ids, closes_at=closes, now=closes + WEEK)
    final = data.outcome(3, ids, closes_at=closes, now=closes + 4 * WEEK)
    assert provisional is not None and not provisional.final
    assert final is not None and final.final
    shares = final.targets.value_counts(normalize=True).sort_index().to_numpy()
    assert np.allclose(shares, [0.05, 0.20, 0.50, 0.20, 0.05], atol=0.01)
