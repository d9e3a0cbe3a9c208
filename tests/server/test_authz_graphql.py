"""The GraphQL authorization matrix: every query and mutation field of ``/graphql`` (Numerai's
API, as numerapi calls it) × every kind of caller, the expected answer in one table.

Callers, as in the REST matrix (test_authz_matrix.py): ``anon`` (no key), ``owner`` (bob's
full key — read, upload, stake — on bob's models), ``other`` (alice's full key on bob's
models), ``read`` (a read-only key of bob's), ``admin`` (the operator's admin key: the admin
scope passes every scope check, but an admin acts on a participant's models only through the
REST admin routes, so here it is refused like any other account).

Keys are numerapi's ``Authorization: Token PUBLIC_ID$SECRET`` with the same scopes as REST:
``read`` for reading one's own things, ``upload`` for uploads, bios, links and webhooks,
``stake`` for stakes. Answers: ``ok`` (data, no error) or the error's stable code
(``authentication_failed``, ``permission_denied``, ``not_found``; ``not_supported`` for
staking v3, answered only when the chain is on). A field of the schema without a row fails
the suite (:func:`test_every_field_has_a_row`, from introspection).

Beyond the codes, no answer to anyone but bob carries bob's private things (his e-mail, key
ids, webhook secret, upload names, submission file names, signed links to his files).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from tests.server.graphql_support import (
    ROWS,
    SEED,
    Participant,
    ValidatingRoundData,
    add_participant,
    predictions_csv,
    settings_for,
    start_clock,
)
from tests.server.signals_support import SignalsData, build_two, signal_frame

from crowdalpha.ledger import nmr
from crowdalpha.server.app import create_app
from crowdalpha.server.graphql.context import GraphQLContext
from crowdalpha.tournament import Tournament

CALLERS = ("anon", "owner", "other", "read", "admin")
OK = "ok"
AUTH = "authentication_failed"
DENIED = "permission_denied"
UNSUPPORTED = "not_supported"

ALL_OK = dict.fromkeys(CALLERS, OK)
SIGNED_IN = {"anon": AUTH, "owner": OK, "other": OK, "read": OK, "admin": OK}
OWNED_READ = {"anon": AUTH, "owner": OK, "other": DENIED, "read": OK, "admin": DENIED}
OWNED_WRITE = {"anon": AUTH, "owner": OK, "other": DENIED, "read": DENIED, "admin": DENIED}
CHAIN_OFF = dict.fromkeys(CALLERS, UNSUPPORTED)
BOB_FILENAME = "bobs_private_predictions.csv"


@dataclass
class World:
    client: TestClient
    tournament: Tournament
    data: SignalsData
    bob: Participant
    alice: Participant
    read_key: str
    admin_key: str
    submission: int
    #: Bob's private things no other caller may see.
    private: set[str] = field(default_factory=set)

    @property
    def classic(self) -> str:
        return str(self.bob.models["bob_c"])

    @property
    def signals(self) -> str:
        return str(self.bob.models["bob_s"])

    def headers(self, caller: str) -> dict[str, str]:
        token = {
            "anon": None,
            "owner": f"{self.bob.public_id}${self.bob.secret}",
            "other": f"{self.alice.public_id}${self.alice.secret}",
            "read": self.read_key,
            "admin": self.admin_key,
        }[caller]
        return {} if token is None else {"Authorization": f"Token {token}"}

    def post(self, query: str, variables: dict[str, Any], caller: str) -> dict[str, Any]:
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers(caller)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def stage(self, kind: str, content: bytes, filename: str = BOB_FILENAME) -> str:
        """A file of bob's PUT to an upload URL (as numerapi does); its upload name."""
        name = GraphQLContext.upload_name(self.bob.account_id, filename)
        self.tournament.store.put(GraphQLContext.upload_key(kind, name), content)
        return name

    def classic_file(self) -> bytes:
        ids = self.tournament.live_ids(1)
        return predictions_csv(ids, (pd_range(len(ids))))

    def signals_file(self) -> bytes:
        return signal_frame(self.data, 1, 1.0, seed=3).to_csv(index=False).encode()

    def validation_file(self) -> bytes:
        validation = ValidatingRoundData(seed=SEED, rows=ROWS).validation()  # build_two's
        return predictions_csv(list(validation.index), pd_range(len(validation)))


def pd_range(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


# field → (request: world → (GraphQL text, variables), {caller: answer})
Request = Callable[[World], tuple[str, dict[str, Any]]]


def _q(text: str, **variables: Any) -> Request:
    """A request whose variables may be computed from the world (callables)."""

    def build(w: World) -> tuple[str, dict[str, Any]]:
        return text, {k: v(w) if callable(v) else v for k, v in variables.items()}

    return build


QUERIES: dict[str, tuple[Request, dict[str, str]]] = {
    "rounds": (_q("{ rounds { number } }"), ALL_OK),
    "listDatasets": (_q("{ listDatasets }"), ALL_OK),
    "dataset": (_q('{ dataset(filename: "v5.0/live.parquet") }'), ALL_OK),
    "submission_upload_auth": (
        _q(
            "query($m: String) { submission_upload_auth(filename: "
            '"p.csv", tournament: 8, modelId: $m) { filename url } }',
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,
    ),
    "diagnosticsUploadAuth": (
        _q(
            'query($m: String) { diagnosticsUploadAuth(filename: "v.csv", modelId: $m) '
            "{ filename url } }",
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,
    ),
    # the caller's own account (alice's, the operator's), never bob's
    "account": (
        _q("{ account { username email apiTokens { public_id } models { id } } }"),
        SIGNED_IN,
    ),
    "model": (
        _q("query($m: String) { model(modelId: $m) { id name } }", m=lambda w: w.classic),
        OWNED_READ,
    ),
    "submissions": (
        _q(
            "query($m: String) { submissions(modelId: $m) { id filename } }",
            m=lambda w: w.classic,
        ),
        OWNED_READ,
    ),
    # public, as on Numerai: a model's profile, scores and performances, an account's models
    "v3UserProfile": (
        _q('{ v3UserProfile(modelName: "bob_c") { username bio nmrStaked } }'),
        ALL_OK,
    ),
    "accountProfile": (_q('{ accountProfile(username: "bob") { models { name } } }'), ALL_OK),
    "submissionScores": (
        _q("query($m: ID!) { submissionScores(modelId: $m) { value } }", m=lambda w: w.classic),
        ALL_OK,
    ),
    "v2RoundModelPerformances": (
        _q(
            "query($m: String!) { v2RoundModelPerformances(modelId: $m) { roundNumber atRisk } }",
            m=lambda w: w.classic,
        ),
        ALL_OK,
    ),
    # the caller's own models' payouts
    "pendingModelPayouts": (
        _q("{ pendingModelPayouts { actual { modelName } pending { modelName } } }"),
        SIGNED_IN,
    ),
    "v2Leaderboard": (_q("{ v2Leaderboard { username nmrStaked } }"), ALL_OK),
    "accountLeaderboard": (_q("{ accountLeaderboard { username } }"), ALL_OK),
    "diagnostics": (
        _q("query($m: String!) { diagnostics(modelId: $m) { id status } }", m=lambda w: w.classic),
        OWNED_READ,
    ),
    # staking v3 answers only where the operator turned the chain on; the stake authorization
    # checks the key first (its submission's owner is checked by the chain platform)
    "v3StakeConfig": (_q("{ v3StakeConfig { address } }"), CHAIN_OFF),
    "v3StakeAuth": (
        _q(
            "query($s: ID!) { v3StakeAuth(submissionId: $s, staker: "
            '"0x0000000000000000000000000000000000000001", maxAmount: "1") { signature } }',
            s=lambda w: str(w.submission),
        ),
        {
            "anon": AUTH,
            "owner": UNSUPPORTED,
            "other": UNSUPPORTED,
            "read": DENIED,
            "admin": UNSUPPORTED,
        },
    ),
    "v3StakeRound": (_q('{ v3StakeRound(roundId: "1") { roundId } }'), CHAIN_OFF),
    "v3StakeClaim": (
        _q(
            'query($m: ID!) { v3StakeClaim(roundId: "1", modelId: $m, staker: '
            '"0x0000000000000000000000000000000000000001") { payoutAmountWei } }',
            m=lambda w: w.classic,
        ),
        CHAIN_OFF,
    ),
    "signalsLeaderboard": (_q("{ signalsLeaderboard { username } }"), ALL_OK),
    "v2SignalsProfile": (_q('{ v2SignalsProfile(modelName: "bob_s") { username } }'), ALL_OK),
    "submissionUploadSignalsAuth": (
        _q(
            'query($m: String) { submissionUploadSignalsAuth(filename: "s.csv", modelId: $m) '
            "{ filename url } }",
            m=lambda w: w.signals,
        ),
        OWNED_WRITE,
    ),
    "submissionDownloadAuth": (
        _q(
            "query($s: String) { submissionDownloadAuth(id: $s) { filename url } }",
            s=lambda w: str(w.submission),
        ),
        OWNED_READ,
    ),
    "pipelineStatus": (_q('{ pipelineStatus(tournament: "classic") { isScoringDay } }'), ALL_OK),
    "submissionWebhook": (
        _q(
            "query($m: String) { submissionWebhook(modelId: $m) { url secret } }",
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,  # the answer carries the signing secret
    ),
}

MUTATIONS: dict[str, tuple[Request, dict[str, str]]] = {
    "create_submission": (
        _q(
            "mutation($f: String!, $m: String) { create_submission(filename: $f, "
            "tournament: 8, modelId: $m) { id } }",
            f=lambda w: w.stage("submissions", w.classic_file()),
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,
    ),
    "createDiagnostics": (
        _q(
            "mutation($f: String!, $m: String) { createDiagnostics(filename: $f, modelId: $m) "
            "{ id } }",
            f=lambda w: w.stage("diagnostics", w.validation_file()),
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,
    ),
    "v2ChangeStake": (
        _q(
            'mutation($m: String) { v2ChangeStake(value: "1", type: "increase", modelId: $m) '
            "{ status } }",
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,
    ),
    "releaseStake": (
        _q(
            'mutation($m: String) { releaseStake(amount: "1", modelId: $m) { status } }',
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,
    ),
    "createSignalsSubmission": (
        _q(
            "mutation($f: String!, $m: String) { createSignalsSubmission(filename: $f, "
            "modelId: $m) { id } }",
            f=lambda w: w.stage("submissions", w.signals_file()),
            m=lambda w: w.signals,
        ),
        OWNED_WRITE,
    ),
    "setSubmissionWebhook": (
        _q(
            "mutation($m: String!) { setSubmissionWebhook(modelId: $m, "
            'newSubmissionWebhook: "https://8.8.8.8/hook") }',
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,
    ),
    "setUserBio": (
        _q('mutation($m: String) { setUserBio(value: "hi", modelId: $m) }', m=lambda w: w.classic),
        OWNED_WRITE,
    ),
    "setUserLink": (
        _q(
            'mutation($m: String) { setUserLink(linkUrl: "https://example.org", modelId: $m) }',
            m=lambda w: w.classic,
        ),
        OWNED_WRITE,
    ),
}


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    tournament, data = build_two(engine, tmp_path / "home", start_clock())
    tournament.tick()  # round 1 of both competitions opens
    operator = tournament.create_account("operator", "ops@example.org", is_operator=True)
    key, secret = tournament.create_api_key(operator.id, scopes=["admin"], name="ops")
    bob = add_participant(tournament, "bob", ("bob_c",), wallet="100")
    bob.models["bob_s"] = tournament.using("signals").create_model(bob.account_id, "bob_s").id
    alice = add_participant(tournament, "alice", ("alice_c",), wallet="100")
    read, read_secret = tournament.create_api_key(bob.account_id, scopes=["read"], name="ro")
    app = create_app(
        tournament, settings_for(tmp_path / "home", "http://testserver"), background=False
    )
    with TestClient(app) as client:
        w = World(
            client,
            tournament,
            data,
            bob,
            alice,
            f"{read.public_id}${read_secret}",
            f"{key.public_id}${secret}",
            submission=0,
        )
        # bob's things: a submission, diagnostics, a stake, a webhook
        for name in (
            "create_submission",
            "createDiagnostics",
            "v2ChangeStake",
            "setSubmissionWebhook",
        ):
            request, _ = MUTATIONS[name]
            body = w.post(*request(w), "owner")
            assert "errors" not in body, body
        [sub] = tournament.submissions(model_id=bob.models["bob_c"])
        w.submission = sub.id
        hook = tournament.webhooks.get(bob.models["bob_c"])
        assert hook is not None
        w.private = {
            "bob@example.org",
            bob.public_id,
            read.public_id,
            hook.secret,
            BOB_FILENAME,
            f"{bob.account_id}/",  # upload names start with the account's id
            tournament.submission_key(sub.id),
        }
        yield w


def _answer(body: dict[str, Any]) -> str:
    errors = body.get("errors")
    if errors:
        return str(errors[0].get("extensions", {}).get("code", errors[0]["message"]))
    assert body.get("data"), body
    return OK


def test_every_field_has_a_row(world: World) -> None:
    """Introspection lists the schema's fields: each needs its row in QUERIES/MUTATIONS."""
    body = world.post(
        "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
        {},
        "anon",
    )
    schema = body["data"]["__schema"]
    assert {f["name"] for f in schema["queryType"]["fields"]} == set(QUERIES), (
        "add the new query field's row to QUERIES"
    )
    assert {f["name"] for f in schema["mutationType"]["fields"]} == set(MUTATIONS), (
        "add the new mutation field's row to MUTATIONS"
    )


def test_the_matrix(world: World) -> None:
    """Every field, every caller (one deployment for all); nothing of bob's leaks."""
    wrong: dict[str, Any] = {}
    leaks: dict[str, Any] = {}
    for kind, table in (("query", QUERIES), ("mutation", MUTATIONS)):
        for name, (request, expected) in sorted(table.items()):
            seen: dict[str, str] = {}
            for caller in CALLERS:
                body = world.post(*request(world), caller)
                seen[caller] = _answer(body)
                assert "internal_error" not in str(body), (name, caller, body)
                if caller not in ("owner", "read"):  # both are bob's keys
                    found = [p for p in world.private if p in str(body)]
                    if found:
                        leaks[f"{kind} {name} ({caller})"] = found
            if seen != expected:
                wrong[f"{kind} {name}"] = {"expected": expected, "got": seen}
    assert not wrong, json.dumps(wrong, indent=1)
    assert not leaks, json.dumps(leaks, indent=1)
    # the ``ok`` rows were real effects, and only the owner's: his stake went up once in
    # the fixture, then once up and once down in the matrix
    t = world.tournament
    assert t.stake_info(world.bob.models["bob_c"]).stake == nmr("1")
    assert t.profiles.profile(world.bob.models["bob_c"]).bio == "hi"
    assert t.check_ledger().ok
