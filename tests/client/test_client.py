"""The client against the real app, served by uvicorn on a local port: every method
returns typed dataclasses, refusals come back as the library's own error classes, and
files move with progress, resumably, and intact."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.live_server import ServerThread
from tests.server.rest_support import Served, build

from crowdalpha.client import Client, NewApiKey, Profile, Round, Stake, Submission, Webhook
from crowdalpha.errors import (
    AuthenticationError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RoundStateError,
    SubmissionIdsError,
)
from crowdalpha.ledger import nmr


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[tuple[Served, str]]:
    server = ServerThread()
    served = build(engine, tmp_path, public_url=server.url)
    server.start(served.app, lifespan="on")
    try:
        yield served, server.url
    finally:
        server.stop()


def test_a_participant_plays_a_round_with_the_client(
    live: tuple[Served, str], tmp_path: Path
) -> None:
    served, url = live
    with Client(base_url=url) as anonymous:
        assert anonymous.health()["status"] == "ok"
        signed = anonymous.sign_up("alice", "alice@example.org")
    assert isinstance(signed.api_key, NewApiKey)
    with (
        Client(url, signed.api_key.public_id, signed.api_key.secret) as alice,
        Client(url, *served.admin_token.split("$")) as ops,
    ):
        assert ops.grant("100.25", username="alice").balance == nmr("100.25")
        model = alice.create_model("alice_m")
        assert alice.models() == [model] and alice.model("alice_m") == model
        assert alice.current_round() is None
        served.open_round()
        current = alice.current_round()
        assert isinstance(current, Round) and current.state == "open"

        seen: list[tuple[int, int | None]] = []
        path = alice.download_dataset(
            "live.parquet", tmp_path, progress=lambda d, t: seen.append((d, t))
        )
        stored = served.tournament.store.get(f"datasets/{current.dataset_version}/live.parquet")
        assert path.read_bytes() == stored
        assert seen[-1] == (len(stored), len(stored))
        assert not path.with_name(path.name + ".part").exists()
        files = {f.name: f for f in alice.datasets()}
        assert files["live.parquet"].sha256 == hashlib.sha256(stored).hexdigest()
        # a part file left by an interrupted download of another file (last week's
        # live.parquet) is not taken for a prefix of this one: the SHA-256 catches it
        other = tmp_path / "again"
        other.mkdir()
        (other / "live.parquet.part").write_bytes(b"last week's bytes" * 10)
        again = alice.download_dataset("live.parquet", other)
        assert again.read_bytes() == stored
        assert not (other / "live.parquet.part").exists()

        body = served.live_csv(current.number)
        sent: list[int] = []
        sub = alice.upload_predictions(
            "alice_m", body, filename="p.csv", progress=lambda d, _t: sent.append(d)
        )
        assert isinstance(sub, Submission) and sub.sha256 == hashlib.sha256(body).hexdigest()
        assert sent[-1] == len(body)
        assert alice.submission(sub.id) == sub
        assert alice.submission_file(sub.id) == body
        assert alice.submissions(model.id) == [sub]
        again = alice.upload_predictions("alice_m", body, filename="q.csv")
        listed = alice.submissions(model.id)
        assert [s.id for s in listed] == [sub.id, again.id]
        assert [s.selected for s in listed] == [False, True]  # the newest one counts
        assert alice.submissions(model.id, latest=1) == [listed[1]]

        stake = alice.increase_stake(model.id, "40", idempotency_key="k")
        assert isinstance(stake, Stake) and stake.stake == nmr(40)
        assert alice.increase_stake(model.id, "40", idempotency_key="k").stake == nmr(40)
        assert alice.set_stake(model.id, 30).stake == nmr(30)
        wallet = alice.wallet()
        assert (wallet.balance, wallet.staked, wallet.total) == (
            nmr("70.25"),
            nmr(30),
            nmr("100.25"),
        )
        assert [e.kind for e in alice.wallet_history()][-1] == "grant"

        served.clock.set(current.resolves_at)
        result = ops.tick()
        assert [r.round_number for r in result.resolved] == [current.number]
        assert alice.scores(model.id)[0].final
        assert alice.payouts(model.id)[0].stake_at_risk == nmr(30)
        assert alice.leaderboard(by="stake")[0].model_name == "alice_m"
        assert ops.ledger_check().ok
        assert [s.id for s in ops.all_submissions()] == [sub.id, again.id]

        key = alice.create_api_key(["read"], name="ro")
        assert {k.public_id for k in alice.api_keys()} >= {key.public_id}
        assert alice.revoke_api_key(key.public_id).revoked_at is not None


def test_refusals_come_back_as_the_librarys_errors(live: tuple[Served, str]) -> None:
    served, url = live
    with Client(url) as anonymous:
        alice_up = anonymous.sign_up("alice", "alice@example.org").api_key
        bob_up = anonymous.sign_up("bob", "bob@example.org").api_key
    served.tournament.grant(served.tournament.account_by_username("alice").id, nmr(5))
    with (
        Client(url, alice_up.public_id, alice_up.secret) as alice,
        Client(url, bob_up.public_id, bob_up.secret) as bob,
    ):
        mine = alice.create_model("alice_m")
        theirs = bob.create_model("bob_m")
        number = served.open_round()
        before = served.snapshot()
        with pytest.raises(InsufficientFundsError) as funds:
            alice.increase_stake(mine.id, "5.000000000000000001")
        assert funds.value.code == "insufficient_funds"
        with pytest.raises(PermissionDeniedError):
            alice.increase_stake(theirs.id, "1")
        with pytest.raises(InvalidAmountError):
            alice.increase_stake(mine.id, 1.5)  # type: ignore[arg-type]
        ids = served.tournament.live_ids(number)
        with pytest.raises(SubmissionIdsError):
            alice.upload_predictions(mine.id, served.live_csv(number)[: len(ids) * 5])
        with pytest.raises(NotFoundError):
            alice.stake(999)
        assert served.snapshot() == before
        served.clock.set(served.tournament.round(number).resolves_at)
        served.tournament.tick()
        with pytest.raises(RoundStateError):
            alice.upload_predictions(mine.id, served.live_csv(number), round_number=number)
    with Client(url, alice_up.public_id, "wrong") as wrong, pytest.raises(AuthenticationError):
        wrong.account()


def test_a_model_webhook_bio_and_link_with_the_client(live: tuple[Served, str]) -> None:
    served, url = live
    with Client(url) as anonymous:
        key = anonymous.sign_up("carol", "carol@example.org").api_key
    with Client(url, key.public_id, key.secret) as carol:
        model = carol.create_model("carol_m")
        assert carol.webhook("carol_m") == Webhook(model.id, None, None, None)
        hook = carol.set_webhook("carol_m", "https://93.184.216.34/hook")
        assert isinstance(hook, Webhook) and hook.url == "https://93.184.216.34/hook"
        assert hook.secret and carol.webhook(model.id) == hook
        with pytest.raises(InvalidParameterError) as internal:
            carol.set_webhook(model.id, "http://192.168.1.10/hook")
        assert internal.value.code == "invalid_parameter"
        assert internal.value.details["reason"] == "internal_destination"
        assert carol.webhook(model.id) == hook  # unchanged
        assert carol.set_webhook(model.id, None).url is None
        assert served.tournament.webhooks.get(model.id) is None

        assert carol.set_bio("carol_m", "Gradient boosting.").bio == "Gradient boosting."
        profile = carol.set_link(model.id, "https://example.org/carol", "notes")
        assert isinstance(profile, Profile)
        assert (profile.bio, profile.link_url, profile.link_text) == (
            "Gradient boosting.",
            "https://example.org/carol",
            "notes",
        )
        assert carol.profile(model.id) == profile
        with pytest.raises(InvalidParameterError):
            carol.set_link(model.id, "javascript:alert(1)")
