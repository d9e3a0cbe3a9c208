"""The core's API for what the layers above used to build by hand: ownership, idempotency
namespaces, ledger histories, a session's principal, dataset files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.errors import IdempotencyKeyReusedError, NotFoundError, PermissionDeniedError
from crowdalpha.ledger import nmr, wallet
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament


def test_one_ownership_rule_for_models_submissions_and_stakes(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    t = tournament
    ann = t.create_account("ann", "ann@example.org")
    ben = t.create_account("ben", "ben@example.org")
    t.grant(ann.id, nmr(100))
    model = t.create_model(ann.id, "ann_1")
    clock.advance(timedelta(hours=1))
    t.tick()
    sub = t.submit(model.id, predictions_csv(t.live_ids(1), skilled(data, 1, 0.5, seed=1)))

    assert t.model(model.id, owner=ann.id) == model
    assert t.submission(sub.id, owner=ann.id) == sub
    refusals = [
        lambda: t.model(model.id, owner=ben.id),
        lambda: t.submission(sub.id, owner=ben.id),
        lambda: t.submission_file(sub.id, owner=ben.id),
        lambda: t.increase_stake(model.id, nmr(1), owner=ben.id),
        lambda: t.decrease_stake(model.id, nmr(1), owner=ben.id),
        lambda: t.submit(model.id, b"id,prediction\n", owner=ben.id),
    ]
    for refused in refusals:
        with pytest.raises(PermissionDeniedError, match="belongs to another account") as info:
            refused()
        assert set(info.value.details) & {"model_id", "submission_id"}
    assert t.stake_info(model.id).stake == 0  # nothing moved
    with pytest.raises(NotFoundError):
        t.submission(10_000, owner=ann.id)
    assert t.submission_file(sub.id, owner=ann.id).startswith(b"id,prediction")


def test_idempotency_keys_live_in_the_acting_account_s_namespace(tournament: Tournament) -> None:
    t = tournament
    op1 = t.create_account("op_one", "op1@example.org", is_operator=True)
    op2 = t.create_account("op_two", "op2@example.org", is_operator=True)
    dan = t.create_account("dan", "dan@example.org")
    first = t.grant(dan.id, nmr(10), key="k", by=op1.id)
    assert t.grant(dan.id, nmr(10), key="k", by=op1.id) == first  # a retry
    assert t.grant(dan.id, nmr(10), key="k", by=op2.id) != first  # another operator's key
    assert t.wallet_balance(dan.id) == nmr(20)
    with pytest.raises(IdempotencyKeyReusedError):
        t.grant(dan.id, nmr(11), key="k", by=op1.id)
    # a participant's stake key is theirs: the same string from another account is another key
    m = t.create_model(dan.id, "dan_1")
    t.increase_stake(m.id, nmr(5), key="k")
    t.increase_stake(m.id, nmr(5), key="k")
    assert t.stake_info(m.id).stake == nmr(5)


def test_histories_principals_and_dataset_files(tournament: Tournament, clock: ManualClock) -> None:
    t = tournament
    eve = t.create_account("eve", "eve@example.org")
    t.grant(eve.id, nmr(30))
    t.deposit(eve.id, nmr(5))
    kinds = [e.kind for e in t.wallet_history(eve.id)]
    assert kinds == ["deposit", "grant"]  # newest first
    assert t.ledger_history(wallet(eve.id), limit=1)[0].kind == "deposit"

    key, _secret = t.create_api_key(eve.id)
    principal = t.principal(eve.id, key.public_id)
    assert principal is not None and principal.account.username == "eve"
    assert t.principal(eve.id + 1, key.public_id) is None  # not that account's key
    t.revoke_api_key(eve.id, key.public_id)
    assert t.principal(eve.id, key.public_id) is None

    clock.advance(timedelta(hours=1))
    t.tick()
    files = {f.name: f for f in t.dataset_files(1)}
    assert set(files) == {"live.parquet", "features.json"}
    assert files["live.parquet"].size_bytes == t.store.size(files["live.parquet"].key)
    assert t.dataset_file(1, "features.json") == files["features.json"]
    with pytest.raises(NotFoundError, match=r"has no file 'train\.parquet'; it has"):
        t.dataset_file(1, "train.parquet")
