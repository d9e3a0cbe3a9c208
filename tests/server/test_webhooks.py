"""Submission webhooks: set through numerapi, queued when a round opens (without holding
the opening up), POSTed signed to a receiver on 127.0.0.1, retried with backoff, given up
and logged after the last attempt."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numerapi
import numerapi.base_api
import pytest
from fastapi.testclient import TestClient
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from tests.server.graphql_support import (
    ROWS,
    SEED,
    ValidatingRoundData,
    add_participant,
    build_tournament,
    settings_for,
    start_clock,
)

from crowdalpha.errors import InvalidParameterError, PermissionDeniedError
from crowdalpha.server.app import create_app
from crowdalpha.server.destinations import check_destination, internal_reason
from crowdalpha.server.webhooks import WebhookSender, sign, verify
from crowdalpha.tournament import ManualClock, Tournament
from crowdalpha.tournament.webhooks import Webhooks

BACKOFF = timedelta(seconds=30)


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers the next status
    of ``statuses`` (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.calls: list[dict[str, Any]] = []
        self.statuses = list(statuses)
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(statuses=(500,))
    yield r
    r.close()


@pytest.fixture
def tournament(db_kind: str, tmp_path: Path) -> Iterator[Tournament]:
    engine = fresh_engine(db_kind, tmp_path)
    clock = start_clock()
    t = build_tournament(
        engine, tmp_path / "home", clock, ValidatingRoundData(seed=SEED, rows=ROWS)
    )
    t.tick()  # round 1 opens
    yield t
    engine.dispose()


def _clock(t: Tournament) -> ManualClock:
    assert isinstance(t.clock, ManualClock)
    return t.clock


def _next_round(t: Tournament) -> int:
    """Advance the clock until the next round opens; its number."""
    current = t.current_round()
    assert current is not None
    while True:
        _clock(t).advance(timedelta(hours=6))
        opened = t.tick().opened
        if opened:
            return opened[-1]


def test_webhooks_are_set_through_numerapi_and_called_signed_with_retries(
    tournament: Tournament,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = tournament
    alice = add_participant(t, "alice", ("alpha", "beta"))
    server = ServerThread()
    server.start(
        create_app(
            t,
            settings_for(tmp_path / "home", server.url, webhook_allow_private=True),
            background=False,
        )
    )
    try:
        monkeypatch.setattr(numerapi.base_api, "API_TOURNAMENT_URL", f"{server.url}/graphql")
        napi = numerapi.NumerAPI(alice.public_id, alice.secret, show_progress_bars=False)
        assert napi.set_submission_webhook(str(alice.models["alpha"]), receiver.url) is True
        with pytest.raises(ValueError, match="invalid_parameter: the webhook must be an http"):
            napi.set_submission_webhook(str(alice.models["beta"]), "ftp://example.org/x")
    finally:
        server.stop()
    hook = t.webhooks.get(alice.models["alpha"])
    assert hook is not None and len(hook.secret) == 64

    number = _next_round(t)  # opening only queues: the receiver has not been called yet
    assert receiver.calls == []
    [queued] = t.webhooks.deliveries()
    assert (queued.state, queued.round_number, queued.attempts) == ("pending", number, 0)

    sender = WebhookSender(t, max_attempts=3, backoff=BACKOFF, allow_private=True)
    with caplog.at_level(logging.WARNING, logger="crowdalpha.server.webhooks"):
        first = sender.send_due()
    assert first.retrying == [queued.id] and len(receiver.calls) == 1
    assert "HTTP 500" in caplog.text and "attempt 1 of 3" in caplog.text
    assert sender.send_due().retrying == [] and len(receiver.calls) == 1  # not due yet
    _clock(t).advance(BACKOFF)
    assert sender.send_due().delivered == [queued.id]
    [done] = t.webhooks.deliveries()
    assert (done.state, done.attempts, done.last_error) == ("delivered", 2, None)
    sender.close()

    call = receiver.calls[-1]
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert verify(hook.secret, headers["x-crowdalpha-signature"], call["body"])
    assert not verify("another secret", headers["x-crowdalpha-signature"], call["body"])
    assert not verify(hook.secret, headers["x-crowdalpha-signature"], call["body"] + b" ")
    payload = json.loads(call["body"])
    info = t.round(number)
    assert payload == {
        "event": "round.opened",
        "triggerId": str(queued.id),
        "tournament": 8,
        "competition": "classic",
        "roundNumber": number,
        "modelId": str(alice.models["alpha"]),
        "modelName": "alpha",
        "openTime": info.opens_at.isoformat(),
        "closeTime": info.closes_at.isoformat(),
    }
    assert headers["x-crowdalpha-delivery"] == str(queued.id)
    assert headers["x-crowdalpha-event"] == "round.opened"
    # the same round never queues twice
    assert Webhooks(t.uow).enqueue(t.competition, number) == []


def test_an_unreachable_webhook_is_given_up_after_the_last_attempt_and_logged(
    tournament: Tournament, caplog: pytest.LogCaptureFixture
) -> None:
    t = tournament
    bob = add_participant(t, "bob", ("gamma",))
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there any more
    t.webhooks.set(bob.models["gamma"], url, owner=bob.account_id)
    _next_round(t)
    sender = WebhookSender(t, max_attempts=2, backoff=BACKOFF, timeout=2, allow_private=True)
    with caplog.at_level(logging.WARNING, logger="crowdalpha.server.webhooks"):
        assert len(sender.send_due().retrying) == 1
        _clock(t).advance(BACKOFF)
        report = sender.send_due()
    sender.close()
    [delivery] = t.webhooks.deliveries()
    assert report.failed == [delivery.id]
    assert delivery.state == "failed" and delivery.attempts == 2
    assert delivery.last_error is not None and "ConnectError" in delivery.last_error
    assert "attempt 2 of 2" in caplog.text
    _clock(t).advance(BACKOFF * 10)
    assert sender.send_due().failed == []  # given up: never tried again


def test_a_failure_to_queue_never_stops_a_round_opening(
    tournament: Tournament, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    t = tournament
    carol = add_participant(t, "carol", ("delta",))
    t.webhooks.set(carol.models["delta"], "http://127.0.0.1:9/x")

    def broken(*_args: object) -> list[object]:
        raise RuntimeError("the queue is broken")

    monkeypatch.setattr(Webhooks, "enqueue", broken)
    with caplog.at_level(logging.ERROR, logger="crowdalpha.tournament"):
        number = _next_round(t)
    assert t.round(number).state == "open"
    assert "could not queue the webhooks of classic round" in caplog.text
    assert t.webhooks.deliveries() == []


def test_the_server_sends_webhooks_in_the_background(
    tournament: Tournament, receiver: Receiver, tmp_path: Path
) -> None:
    t = tournament
    dave = add_participant(t, "dave", ("epsilon",))
    t.webhooks.set(dave.models["epsilon"], receiver.url)
    receiver.statuses.clear()
    settings = settings_for(tmp_path / "home", "http://127.0.0.1", webhook_allow_private=True)
    settings = settings.model_copy(update={"webhook_interval": 0.05})
    server = ServerThread()
    server.start(create_app(t, settings), lifespan="on")
    try:
        _next_round(t)
        assert receiver.arrived.wait(10)
    finally:
        server.stop()
    assert [d.state for d in t.webhooks.deliveries()] == ["delivered"]


def test_two_senders_never_take_the_same_delivery(tournament: Tournament) -> None:
    t = tournament
    gina = add_participant(t, "gina", ("theta",))
    t.webhooks.set(gina.models["theta"], "http://127.0.0.1:9/x")
    _next_round(t)
    now = t.clock.now()
    webhooks = Webhooks(t.uow)
    first = webhooks.claim(now, timedelta(seconds=30))
    assert len(first) == 1 and first[0].secret is not None
    assert webhooks.claim(now, timedelta(seconds=30)) == []  # another process: nothing
    # a sender that died mid-call: the delivery comes back once the lease ends
    assert [d.id for d in webhooks.claim(now + timedelta(seconds=31), BACKOFF)] == [first[0].id]


def test_webhook_settings_are_checked_and_owned(tournament: Tournament) -> None:
    t = tournament
    erin = add_participant(t, "erin", ("zeta",))
    frank = add_participant(t, "frank", ("eta",))
    model = erin.models["zeta"]
    first = t.webhooks.set(model, "https://example.org/a", owner=erin.account_id)
    same = t.webhooks.set(model, " https://example.org/a ", owner=erin.account_id)
    other = t.webhooks.set(model, "https://example.org/b", owner=erin.account_id)
    assert first is not None and same is not None and other is not None
    assert same.secret == first.secret and other.secret != first.secret  # new URL, new key
    with pytest.raises(PermissionDeniedError):
        t.webhooks.set(model, "https://example.org/c", owner=frank.account_id)
    for bad in ("javascript:alert(1)", "example.org/x", "https://" + "a" * 2000):
        with pytest.raises(InvalidParameterError):
            t.webhooks.set(model, bad, owner=erin.account_id)
    assert t.webhooks.set(model, None, owner=erin.account_id) is None
    assert t.webhooks.get(model) is None


def test_signatures_expire() -> None:
    body = b'{"event": "round.opened"}'
    header = sign("k", body, 1_000_000)
    assert verify("k", header, body, now=1_000_000 + 60)
    assert not verify("k", header, body, now=1_000_000 + 3600)
    assert not verify("k", "garbage", body)


# -- internal destinations (SSRF) are refused unless the operator allows them -----------------


def test_a_webhook_to_an_internal_address_is_refused_when_set(
    tournament: Tournament, tmp_path: Path
) -> None:
    t = tournament
    hal = add_participant(t, "hal", ("iota",))
    query = (
        "mutation($m: String!, $u: String) "
        "{ setSubmissionWebhook(modelId: $m, newSubmissionWebhook: $u) }"
    )
    headers = hal.headers
    model = str(hal.models["iota"])
    for allowed, url in (
        (False, "http://127.0.0.1:8080/hook"),
        (False, "http://[::1]/x"),
        (False, "http://169.254.169.254/latest"),
        (True, "http://10.0.0.7/hook"),
    ):
        settings = settings_for(
            tmp_path / "home", "http://testserver", webhook_allow_private=allowed
        )
        with TestClient(create_app(t, settings, background=False)) as client:
            body = client.post(
                "/graphql",
                json={"query": query, "variables": {"m": model, "u": url}},
                headers=headers,
            ).json()
        hook = t.webhooks.get(hal.models["iota"])
        if allowed:
            assert body["data"]["setSubmissionWebhook"] == "true" and hook is not None
            assert hook.url == url
        else:
            [error] = body["errors"]
            assert (
                "public addresses" in error["message"]
                and "webhook_allow_private" in error["message"]
            )
            assert hook is None  # nothing stored


def test_the_sender_refuses_an_internal_destination_at_send_time(
    tournament: Tournament, receiver: Receiver
) -> None:
    t = tournament
    ivy = add_participant(t, "ivy", ("kappa", "lambda"))
    t.webhooks.set(ivy.models["kappa"], receiver.url)  # set before the rule applied
    t.webhooks.set(ivy.models["lambda"], "http://hooks.example.net/x")
    _next_round(t)
    # the name resolved to a public address when set; now it points inside the network
    sender = WebhookSender(
        t, max_attempts=1, backoff=BACKOFF, resolve=lambda host, port: ["10.1.2.3"]
    )
    report = sender.send_due()
    sender.close()
    assert len(report.failed) == 2 and receiver.calls == []  # never called
    errors = {d.model_id: d.last_error or "" for d in t.webhooks.deliveries()}
    assert "refused" in errors[ivy.models["kappa"]] and "127.0.0.1" in errors[ivy.models["kappa"]]
    assert "loopback" in errors[ivy.models["kappa"]]
    assert "10.1.2.3" in errors[ivy.models["lambda"]] and "private" in errors[ivy.models["lambda"]]


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_internal_addresses_are_told_apart(address: str, internal: str | None) -> None:
    reason = internal_reason(address)
    assert (reason is None) if internal is None else (reason is not None and internal in reason)


def test_a_name_is_checked_where_it_resolves() -> None:
    url = "https://hooks.example.net/x"
    check_destination(url, resolve=lambda host, port: ["93.184.216.34"])
    with pytest.raises(InvalidParameterError) as refused:
        check_destination(url, resolve=lambda host, port: ["93.184.216.34", "192.168.0.2"])
    assert refused.value.details["reason"] == "internal_destination"
    assert refused.value.details["address"] == "192.168.0.2"
    check_destination(url, allow_private=True, resolve=lambda host, port: ["192.168.0.2"])

    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    check_destination(url, resolve=nowhere)  # when set: checked again before each call
    with pytest.raises(InvalidParameterError, match="does not resolve"):
        check_destination(url, resolve=nowhere, unresolved_ok=False)
