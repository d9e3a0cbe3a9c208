"""Crashes, retries and refusals: nothing half-done, nothing done twice, clear errors."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.errors import (
    ConflictError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RoundStateError,
    StakeLimitError,
    SubmissionError,
    SubmissionIdsError,
    SubmissionValuesError,
)
from crowdalpha.ledger import nmr
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, settlement
from crowdalpha.tournament.unit_of_work import UnitOfWork

WEEK = timedelta(days=7)


def _staked_round(t: Tournament, clock: ManualClock, data: SyntheticRoundData) -> list[int]:
    acct = t.create_account("erin", "erin@example.org")
    t.grant(acct.id, nmr(1_000))
    models = [t.create_model(acct.id, f"erin_{i}").id for i in range(3)]
    clock.advance(timedelta(hours=1))
    t.tick()
    ids = t.live_ids(1)
    for i, m in enumerate(models):
        t.increase_stake(m, nmr(100))
        values = skilled(data, 1, noise=0.2, seed=i)
        t.submit(m, predictions_csv(ids, values if i != 1 else 1 - values))
    clock.advance(WEEK)
    t.tick()
    t.decrease_stake(models[0], nmr(30))
    clock.set(t.round(1).closes_at + timedelta(days=28))
    return models


class Boom(RuntimeError):
    pass


def test_a_crash_in_the_middle_of_resolution_leaves_no_trace(
    tournament: Tournament,
    clock: ManualClock,
    data: SyntheticRoundData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = tournament
    models = _staked_round(t, clock, data)
    before = (t.supply(), [t.stake_info(m) for m in models], t.round(1))

    def crash(*args: object) -> int:
        raise Boom("power cut after payouts and burns were posted")

    monkeypatch.setattr(settlement, "release", crash)
    with pytest.raises(Boom):
        t.tick()
    # payouts and burns had been posted inside the transaction: all rolled back
    assert (t.supply(), [t.stake_info(m) for m in models], t.round(1)) == before
    assert t.payouts(round_number=1) == [] and t.scores(round_number=1) == []
    assert t.check_ledger().ok

    monkeypatch.undo()
    report = t.tick()
    assert [r.round_number for r in report.resolved] == [1]
    assert t.round(1).state == "resolved" and len(t.payouts(round_number=1)) == 3
    assert t.stake_info(models[0]).pending == 0
    assert t.check_ledger().ok
    assert not t.tick().changed


def test_a_crash_while_opening_a_round_is_completed_by_the_retry(
    tournament: Tournament, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tournament
    clock.advance(timedelta(hours=1))
    real = UnitOfWork.run
    calls = {"n": 0}

    def flaky(self: UnitOfWork, op):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        # the first write: the competition's start (its numbering), stored with round 1's
        # opening; the second: the round row, after the dataset files were written
        if calls["n"] == 2:
            raise Boom("crash after the dataset files were written")
        return real(self, op)

    monkeypatch.setattr(UnitOfWork, "run", flaky)
    with pytest.raises(Boom):
        t.tick()
    monkeypatch.undo()
    assert t.rounds() == []
    assert t.tick().opened == [1]
    assert len(t.live_ids(1)) > 0
    assert t.tick().opened == []


def test_retried_stake_changes_with_a_key_happen_once(
    tournament: Tournament, clock: ManualClock
) -> None:
    t = tournament
    acct = t.create_account("frank", "frank@example.org")
    model = t.create_model(acct.id, "frank_1")
    t.grant(acct.id, nmr(100), key="g")
    t.grant(acct.id, nmr(100), key="g")
    assert t.wallet_balance(acct.id) == nmr(100)
    for _ in range(3):
        t.increase_stake(model.id, nmr(10), key="inc-1")
        t.decrease_stake(model.id, nmr(4), key="dec-1")
    assert t.stake_info(model.id).stake == nmr(6)
    assert t.wallet_balance(acct.id) == nmr(94)
    with pytest.raises(IdempotencyKeyReusedError):
        t.increase_stake(model.id, nmr(11), key="inc-1")
    with pytest.raises(IdempotencyKeyReusedError):
        t.decrease_stake(model.id, nmr(10), key="inc-1")
    assert t.check_ledger().ok


def test_refusals_are_typed_and_change_nothing(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    t = tournament
    acct = t.create_account("gina", "gina@example.org")
    model = t.create_model(acct.id, "gina_1")
    t.grant(acct.id, nmr(10))
    with pytest.raises(ConflictError, match="username"):
        t.create_account("GINA", "other@example.org")
    with pytest.raises(ConflictError, match="email"):
        t.create_account("gina2", "gina@example.org")
    with pytest.raises(ConflictError, match="already exists"):
        t.create_model(acct.id, "Gina_1")
    with pytest.raises(InvalidInputError, match="model name"):
        t.create_model(acct.id, "no spaces please")
    with pytest.raises(NotFoundError):
        t.create_model(999, "ghost")
    with pytest.raises(InsufficientFundsError, match="holds 10 NMR"):
        t.increase_stake(model.id, nmr(11))
    with pytest.raises(InsufficientFundsError, match="has 0 NMR staked"):
        t.decrease_stake(model.id, nmr(1))
    with pytest.raises(RoundStateError, match="no round is open"):
        t.submit(model.id, b"id,prediction\n")

    clock.advance(timedelta(hours=1))
    t.tick()
    ids = t.live_ids(1)
    files_before = sorted(t.store.keys("submissions"))
    cases: list[tuple[type[SubmissionError], bytes]] = [
        (SubmissionIdsError, predictions_csv(ids[:-3], np.linspace(0, 1, len(ids) - 3))),
        (SubmissionValuesError, predictions_csv(ids, np.full(len(ids), 0.5))),
        (SubmissionValuesError, predictions_csv(ids, np.linspace(0, 2, len(ids)))),
        (SubmissionError, b""),
        (SubmissionError, b"id,prediction,extra\n"),
    ]
    for error, payload in cases:
        with pytest.raises(error):
            t.submit(model.id, payload)
    # a good file for another account's model, submitted as that other account
    other = t.create_account("hank", "hank@example.org")
    good = predictions_csv(ids, skilled(data, 1, 1.0, 0))
    with pytest.raises(PermissionDeniedError, match="belongs to another account"):
        t.submit(model.id, good, owner=other.id)
    assert t.submissions() == []
    assert sorted(t.store.keys("submissions")) == files_before == []
    assert t.wallet_balance(acct.id) == nmr(10)

    # a resolved round takes no more submissions
    t.submit(model.id, predictions_csv(ids, skilled(data, 1, 1.0, 0)))
    clock.set(t.round(1).closes_at + timedelta(days=28))
    t.tick()
    with pytest.raises(RoundStateError, match="resolved"):
        t.submit(model.id, predictions_csv(ids, skilled(data, 1, 1.0, 0)), round_number=1)


def test_stake_limits(tournament: Tournament) -> None:
    t = tournament
    acct = t.create_account("hank", "hank@example.org")
    a = t.create_model(acct.id, "hank_a")
    b = t.create_model(acct.id, "hank_b")
    t.grant(acct.id, nmr(1_000))
    t.set_limits(acct.id, max_stake=nmr(300))
    t.increase_stake(a.id, nmr(300))
    with pytest.raises(StakeLimitError, match="limit is 300 NMR"):
        t.increase_stake(a.id, 1)
    t.set_limits(acct.id, max_stake_share="0.5")
    with pytest.raises(StakeLimitError, match="50% of the account's 1000 NMR"):
        t.increase_stake(b.id, nmr(500) + 1)
    t.increase_stake(b.id, nmr(500))
    t.set_limits(acct.id)
    t.increase_stake(b.id, nmr(200))
    assert t.wallet_balance(acct.id) == 0


def test_altered_files_are_detected(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    t = tournament
    acct = t.create_account("ivy", "ivy@example.org")
    model = t.create_model(acct.id, "ivy_1")
    clock.advance(timedelta(hours=1))
    t.tick()
    ids = t.live_ids(1)
    sub = t.submit(model.id, predictions_csv(ids, skilled(data, 1, 1.0, 0)))
    key = next(k for k in t.store.keys("submissions") if k.endswith(".csv"))
    t.store.put(key, t.store.get(key).replace(b"0.", b"1.", 1))
    with pytest.raises(ConflictError, match="altered"):
        t.submission_file(sub.id)


def test_simultaneous_stake_increases_never_spend_the_same_nmr(tournament: Tournament) -> None:
    import threading

    t = tournament
    acct = t.create_account("jack", "jack@example.org")
    models = [t.create_model(acct.id, f"jack_{i}").id for i in range(6)]
    t.grant(acct.id, nmr(10))
    barrier = threading.Barrier(len(models))
    outcomes: list[object] = []
    lock = threading.Lock()

    def stake_three(model_id: int) -> None:
        barrier.wait()
        try:
            t.increase_stake(model_id, nmr(3), key=f"race-{model_id}")
            result: object = "ok"
        except InsufficientFundsError as exc:
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=stake_three, args=(m,)) for m in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 3 and len(outcomes) == 6
    assert sum(t.stake_info(m).stake for m in models) == nmr(9)
    assert t.wallet_balance(acct.id) == nmr(1)
    assert t.check_ledger().ok


def test_an_unreadable_submission_fails_visibly_and_the_round_still_resolves(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    t = tournament
    models = _staked_round(t, clock, data)
    broken = t.submissions(model_id=models[2])[0]
    npy = next(k for k in t.store.keys(f"submissions/00001/{models[2]}/") if k.endswith(".npy"))
    t.store.put(npy, b"not numpy at all")
    t.tick()
    assert t.round(1).state == "resolved"
    failed = t.submissions(model_id=models[2])[0]
    assert failed.id == broken.id and failed.state == "failed"
    assert failed.error_code == "submission_unreadable" and failed.error_message
    assert {p.model_id for p in t.payouts(round_number=1)} == {models[0], models[1]}
    assert t.stake_info(models[2]).stake == nmr(100)
    assert [s.state for s in t.submissions(model_id=models[0])] == ["resolved"]
    assert t.check_ledger().ok


def test_a_retried_upload_with_a_key_is_recorded_once(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    t = tournament
    acct = t.create_account("liam", "liam@example.org")
    model = t.create_model(acct.id, "liam_1")
    clock.advance(timedelta(hours=1))
    t.tick()
    payload = predictions_csv(t.live_ids(1), skilled(data, 1, 1.0, 0))
    first = t.submit(model.id, payload, key="upload-1")
    again = t.submit(model.id, payload, key="upload-1")
    assert again == first and len(t.submissions(model_id=model.id)) == 1
    assert len([k for k in t.store.keys("submissions") if k.endswith(".npy")]) == 1
    other = predictions_csv(t.live_ids(1), skilled(data, 1, 2.0, 1))
    with pytest.raises(IdempotencyKeyReusedError):
        t.submit(model.id, other, key="upload-1")
    assert len(t.submissions(model_id=model.id)) == 1


def test_payouts_are_scaled_down_when_the_mint_cap_is_reached(
    make_tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:  # type: ignore[no-untyped-def]
    from crowdalpha.tournament import TournamentConfig

    cap = nmr(1_000) + nmr(3)
    t: Tournament = make_tournament(TournamentConfig(mint_cap=cap))
    t.mint(nmr(1_000))
    acct = t.create_account("mia", "mia@example.org")
    t.grant(acct.id, nmr(1_000))
    models = [t.create_model(acct.id, f"mia_{i}").id for i in range(2)]
    clock.advance(timedelta(hours=1))
    t.tick()
    ids = t.live_ids(1)
    for i, m in enumerate(models):
        t.increase_stake(m, nmr(200))
        t.submit(m, predictions_csv(ids, skilled(data, 1, 0.1, i)))
    clock.advance(WEEK)
    t.tick()
    clock.set(t.round(1).closes_at + timedelta(days=28))
    resolution = t.tick().resolved[0]
    # each model earns the 5 % clip, 10 NMR, 20 in all; only 3 NMR may still be minted
    assert resolution.minted == nmr(3)
    paid = [p.amount for p in t.payouts(round_number=1)]
    assert paid == [nmr(3) // 2, nmr(3) // 2]
    assert t.supply().minted == cap
    assert t.check_ledger().ok
