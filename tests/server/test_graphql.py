"""Numerai's GraphQL API through the app: rounds, datasets, accounts, the quirks of
numerapi's query text, and every refusal (always HTTP 200 with ``errors``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numerapi
import numerapi.base_api
import pytest
from graphql import parse, validate
from sqlalchemy import Engine
from tests.server.graphql_support import GraphQLHarness, Participant, add_participant

from crowdalpha.server.graphql import schema
from crowdalpha.server.graphql.quirks import normalize_query
from crowdalpha.tournament import TournamentConfig

CURRENT = """query($tournament: Int!) {
  rounds(tournament: $tournament number: 0) { number openTime closeStakingTime }
}"""

LIST_ROUNDS = """query($tournament: Int $number: Int $target: String $status: RoundStatus
      $limit: Int) {
  rounds(tournament: $tournament number: $number target: $target status: $status
         limit: $limit) {
    id tournament number target state closeTime closeStakingTime openTime scoreTime
    resolveTime resolvedGeneral resolvedStaking payoutFactor stakeThreshold dataDatestamp
    roundScoreConfigs { id name displayName isPayout isCanonScore defaultMultiplier
                        clipThreshold scoringStart scoringEnd }
  }
}"""

ACCOUNT = """query { account { id username email walletAddress availableNmr mfaEnabled status
  insertedAt models { id name tournament submissions { id filename } v2Stake { status txHash } }
  apiTokens { name public_id scopes } } }"""


@pytest.fixture
def h(engine: Engine, tmp_path: Path) -> GraphQLHarness:
    return GraphQLHarness(engine, tmp_path)


@pytest.fixture
def alice(h: GraphQLHarness) -> Participant:
    return add_participant(h.tournament, "alice", ("alpha", "beta"))


@pytest.fixture
def bob(h: GraphQLHarness) -> Participant:
    return add_participant(h.tournament, "bob", ("gamma",))


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


# -- rounds -----------------------------------------------------------------------------


def test_current_round_accepts_int_and_non_null_int_declarations(h: GraphQLHarness) -> None:
    strict = h.data_of(CURRENT, {"tournament": 8})["rounds"]
    loose = h.data_of(LIST_ROUNDS, {"tournament": 8, "number": 0})["rounds"]
    assert [r["number"] for r in strict] == [r["number"] for r in loose] == [1]
    opens = _aware(strict[0]["openTime"])
    assert opens == TournamentConfig().schedule.opens(1)
    assert _aware(strict[0]["closeStakingTime"]) == TournamentConfig().schedule.closes(1)


def test_list_rounds_filters_newest_first(h: GraphQLHarness) -> None:
    h.advance(timedelta(days=7))  # round 1 closes, round 2 opens
    rounds = h.data_of(LIST_ROUNDS, {"tournament": 8})["rounds"]
    assert [r["number"] for r in rounds] == [2, 1]
    assert rounds[1]["state"] == "closed" and rounds[0]["state"] == "open"
    assert rounds[0]["tournament"] == 8 and rounds[0]["id"] == "2"
    for field in ("openTime", "closeTime", "closeStakingTime", "resolveTime"):
        _aware(rounds[0][field])
    configs = {c["name"]: c for c in rounds[0]["roundScoreConfigs"]}
    assert configs["v2_corr20"]["isCanonScore"] and configs["v2_corr20"]["isPayout"]
    assert configs["v2_corr20"]["defaultMultiplier"] == "0.5"
    assert configs["mmc"]["defaultMultiplier"] == "2.0"
    assert not configs["fnc_v4"]["isPayout"]
    assert not configs["mpc"]["isPayout"] and configs["mpc"]["defaultMultiplier"] is None
    assert rounds[0]["stakeThreshold"] == "72000.000000000000000000"

    def numbers(**variables: Any) -> list[int]:
        got = h.data_of(LIST_ROUNDS, {"tournament": 8, **variables})["rounds"]
        return [r["number"] for r in got]

    assert numbers(status="OPEN") == [2]
    assert numbers(status="RESOLVING") == [1]
    assert numbers(status="RESOLVED") == []
    assert numbers(status="UPCOMING") == []
    assert numbers(number=1) == [1]
    assert numbers(number=99) == []
    assert numbers(limit=1) == [2]


def test_get_competitions_shape(h: GraphQLHarness) -> None:
    query = """query($tournament: Int!) { rounds(tournament: $tournament) {
      number resolveTime openTime resolvedGeneral resolvedStaking } }"""
    rounds = h.data_of(query, {"tournament": 8})["rounds"]
    assert rounds[0]["number"] == 1 and rounds[0]["resolvedGeneral"] is False


def test_no_open_round_is_an_error_as_on_numerai(engine: Engine, tmp_path: Path) -> None:
    h = GraphQLHarness(engine, tmp_path, open_round=False)
    message = h.error_of(CURRENT, {"tournament": 8})
    assert message == "not_found: Current round not open for submissions"
    assert h.data_of("query { listDatasets }")["listDatasets"] == []
    assert h.data_of(LIST_ROUNDS, {"tournament": 8})["rounds"] == []
    assert h.error_of(DATASET, {"filename": "v5.0/live.parquet"}).startswith("not_found:")


def test_other_tournaments_are_refused(h: GraphQLHarness) -> None:
    message = h.error_of(CURRENT, {"tournament": 11})
    assert message.startswith("invalid_parameter:") and "Classic tournament (8)" in message


# -- datasets ---------------------------------------------------------------------------

DATASET = """query($filename: String! $round: Int $tournament: Int) {
  dataset(filename: $filename round: $round tournament: $tournament) }"""


def test_list_and_download_datasets_with_range(h: GraphQLHarness) -> None:
    names = h.data_of(
        "query($round: Int $tournament: Int) {"
        " listDatasets(round: $round tournament: $tournament) }",
        {"round": None, "tournament": 8},
    )["listDatasets"]
    assert names == [
        "v5.0/era_regimes.parquet",
        "v5.0/features.json",
        "v5.0/live.parquet",
        "v5.0/live_1.parquet",
        "v5.0/validation.parquet",
    ]
    version = h.tournament.round(1).dataset_version
    stored = h.tournament.store.get(f"datasets/{version}/live.parquet")
    for name in (
        "v5.0/live.parquet",
        "v5.0/live_1.parquet",
        "live.parquet",
        f"{version}/live.parquet",
    ):
        url = h.data_of(DATASET, {"filename": name, "round": None, "tournament": 8})["dataset"]
        assert url.startswith("http://testserver/files/")
        got = h.client.get(url)
        assert got.status_code == 200 and got.content == stored
    url = h.data_of(DATASET, {"filename": "v5.0/live.parquet", "round": 1})["dataset"]
    part = h.client.get(url, headers={"Range": "bytes=100-"})
    assert part.status_code == 206 and part.content == stored[100:]

    missing = h.error_of(DATASET, {"filename": "v4.3/train.parquet"})
    assert missing.startswith("not_found:") and "v5.0/live.parquet" in missing
    assert h.error_of(DATASET, {"filename": "v5.0/live.parquet", "round": 9}).startswith(
        "not_found:"
    )


def test_dataset_folder_is_configurable(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crowdalpha.server import graphql

    h = GraphQLHarness(engine, tmp_path)
    h.app.include_router(graphql.make_router("v9.9"), prefix="/custom")
    response = h.client.post("/custom/graphql", json={"query": "query { listDatasets }"})
    names = response.json()["data"]["listDatasets"]
    assert "v9.9/features.json" in names and all(n.startswith("v9.9/") for n in names)
    monkeypatch.setenv("CROWDALPHA_DATASET_FOLDER", "v7")
    from crowdalpha.settings import Settings

    assert Settings().dataset_folder == "v7"  # a setting like the others (env, .env file)
    h.app.include_router(graphql.make_router(Settings().dataset_folder), prefix="/env")
    response = h.client.post("/env/graphql", json={"query": "query { listDatasets }"})
    names = response.json()["data"]["listDatasets"]
    assert "v7/features.json" in names and all(n.startswith("v7/") for n in names)


# -- accounts and models ----------------------------------------------------------------


def test_account_and_models(h: GraphQLHarness, alice: Participant, bob: Participant) -> None:
    account = h.data_of(ACCOUNT, who=alice)["account"]
    assert account["username"] == "alice" and account["id"] == str(alice.account_id)
    assert account["availableNmr"] == "100.000000000000000000"
    assert account["status"] == "VERIFIED" and account["mfaEnabled"] is False
    _aware(account["insertedAt"])
    assert [(m["name"], m["tournament"]) for m in account["models"]] == [
        ("alpha", 8),
        ("beta", 8),
    ]
    assert account["models"][0]["id"] == str(alice.models["alpha"])
    assert account["models"][0]["v2Stake"] == {"status": "unstaked", "txHash": None}
    assert account["apiTokens"] == [
        {"name": "test", "public_id": alice.public_id, "scopes": ["read", "stake", "upload"]}
    ]
    models = h.data_of("query { account { models { id name tournament } } }", who=bob)
    assert models["account"]["models"] == [
        {"id": str(bob.models["gamma"]), "name": "gamma", "tournament": 8}
    ]

    name = h.data_of(
        "query($modelid: String!) { model(modelId: $modelid) { name } }",
        {"modelid": str(alice.models["beta"])},
        who=alice,
    )
    assert name == {"model": {"name": "beta"}}
    profile = h.data_of(
        """query($username: String! $tournament: Int) {
          accountProfile(username: $username tournament: $tournament) {
            models { id displayName } } }""",
        {"username": "alice", "tournament": 8},
    )["accountProfile"]["models"]
    assert {m["displayName"]: m["id"] for m in profile} == {
        "alpha": str(alice.models["alpha"]),
        "beta": str(alice.models["beta"]),
    }


def test_user_profile_by_model_name_and_modelName(h: GraphQLHarness, alice: Participant) -> None:
    snake = h.data_of(
        """query($model_name: String! $tournament: Int) {
          v3UserProfile(model_name: $model_name tournament: $tournament) {
            id startDate username bio nmrStaked stakeValue } }""",
        {"model_name": "alpha", "tournament": 8},
    )["v3UserProfile"]
    assert snake["id"] == str(alice.models["alpha"]) and snake["username"] == "alpha"
    assert snake["stakeValue"] is None and snake["nmrStaked"] == "0.000000000000000000"
    camel = h.data_of(
        """query($username: String!) { v3UserProfile(modelName: $username) {
          dailyModelPerformances { date corrRep corrRank mmcRep fncRep tcRep } } }""",
        {"username": "alpha"},
    )
    assert camel == {"v3UserProfile": {"dailyModelPerformances": []}}
    assert h.error_of('query { v3UserProfile(model_name: "nobody") { id } }').startswith(
        "not_found:"
    )
    assert h.error_of("query { v3UserProfile { id } }").startswith("invalid_parameter:")


# -- authentication, scopes, ownership ----------------------------------------------------


def test_wrong_malformed_missing_and_revoked_keys(h: GraphQLHarness, alice: Participant) -> None:
    query = "query { account { username } }"
    wrong = h.error_of(query, headers={"Authorization": f"Token {alice.public_id}$nope"})
    assert wrong.startswith("authentication_failed:") and "wrong API key" in wrong
    malformed = h.error_of(query, headers={"Authorization": "Bearer abc"})
    assert malformed.startswith("authentication_failed:") and "malformed" in malformed
    missing = h.error_of(query)
    assert missing.startswith("authentication_failed:") and "API key" in missing
    h.tournament.revoke_api_key(alice.account_id, alice.public_id)
    revoked = h.error_of(query, who=alice)
    assert "revoked" in revoked
    # a bad key is refused even on public queries, rather than silently ignored
    assert "revoked" in h.error_of(CURRENT, {"tournament": 8}, who=alice)


def test_scopes_are_enforced(h: GraphQLHarness) -> None:
    reader = add_participant(h.tournament, "reader", ("solo",), scopes=("read",))
    uploader = add_participant(h.tournament, "uploader", ("solo2",), scopes=("upload",))
    upload = """query($filename: String! $tournament: Int! $modelId: String) {
      submission_upload_auth(filename: $filename tournament: $tournament modelId: $modelId) {
        filename url } }"""
    refused = h.error_of(upload, {"filename": "p.csv", "tournament": 8}, who=reader)
    assert refused.startswith("permission_denied:") and "'upload'" in refused
    stake = """mutation($value: String! $type: String! $tournamentNumber: Int! $modelId: String) {
      v2ChangeStake(value: $value type: $type modelId: $modelId
                    tournamentNumber: $tournamentNumber) { status } }"""
    refused = h.error_of(
        stake, {"value": "1", "type": "increase", "tournamentNumber": 8}, who=reader
    )
    assert refused.startswith("permission_denied:") and "'stake'" in refused
    refused = h.error_of("query { account { username } }", who=uploader)
    assert refused.startswith("permission_denied:") and "'read'" in refused
    # the single model of an account needs no modelId
    auth = h.data_of(upload, {"filename": "p.csv", "tournament": 8}, who=uploader)
    assert auth["submission_upload_auth"]["filename"].endswith("/p.csv")


def test_other_accounts_models_are_refused(
    h: GraphQLHarness, alice: Participant, bob: Participant
) -> None:
    gamma = str(bob.models["gamma"])
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("query($m: String!) { model(modelId: $m) { name } }", {"m": gamma}),
        ("query($m: String) { submissions(modelId: $m) { id } }", {"m": gamma}),
        (
            'query($m: String) { submission_upload_auth(filename: "p.csv" tournament: 8 '
            "modelId: $m) { url } }",
            {"m": gamma},
        ),
        (
            'mutation($m: String) { v2ChangeStake(value: "1" type: "increase" '
            "tournamentNumber: 8 modelId: $m) { status } }",
            {"m": gamma},
        ),
        (
            "mutation($m: String) { releaseStake(drain: true modelId: $m) { status } }",
            {"m": gamma},
        ),
        ("query($m: String!) { diagnostics(modelId: $m) { id } }", {"m": gamma}),
        ("query($m: String!) { model(modelId: $m) { name } }", {"m": "gamma"}),
    ]
    for query, variables in attempts:
        message = h.error_of(query, variables, who=alice)
        assert message.startswith("permission_denied:"), (query, message)
        assert "belongs to another account" in message
    assert h.tournament.stake_info(bob.models["gamma"]).stake == 0
    unknown = h.error_of('query { model(modelId: "999") { name } }', who=alice)
    assert unknown.startswith("not_found:")
    several = h.error_of("query { submissions { id } }", who=alice)
    assert several.startswith("invalid_parameter:") and "2 models" in several


# -- invalid requests ---------------------------------------------------------------------


def test_invalid_requests_are_200_with_errors(h: GraphQLHarness) -> None:
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: h.client.post("/graphql", content=b"{not json"), "invalid_request"),
        (lambda: h.client.post("/graphql", json=[1, 2]), "invalid_request"),
        (lambda: h.client.post("/graphql", json={"variables": {}}), "invalid_request"),
        (
            lambda: h.client.post("/graphql", json={"query": "{ listDatasets }", "variables": 3}),
            "invalid_request",
        ),
        (
            lambda: h.client.post(
                "/graphql", json={"query": "{ listDatasets }", "operationName": 3}
            ),
            "invalid_request",
        ),
        (lambda: h.client.post("/graphql", json={"query": "query { rounds("}), "invalid_query"),
        (lambda: h.client.post("/graphql", json={"query": "{ nothing }"}), "invalid_query"),
        (
            lambda: h.client.post(
                "/graphql",
                json={"query": CURRENT, "variables": {"tournament": "eight"}},
            ),
            "invalid_query",
        ),
    ]
    for send, code in cases:
        response = send()
        assert response.status_code == 200
        body = response.json()
        assert body["errors"][0]["message"].startswith(f"{code}: "), body
        assert body["errors"][0]["extensions"]["code"] == code


def test_unexpected_failures_are_logged_and_hidden(
    h: GraphQLHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_kw: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(h.tournament, "leaderboard", broken)
    with caplog.at_level(logging.ERROR, logger="crowdalpha.server.graphql"):
        message = h.error_of("query { v2Leaderboard(limit: 5 offset: 0) { rank } }")
    assert message.startswith("internal_error:") and "secret" not in message
    assert any("secret internals" in str(r.exc_info) for r in caplog.records)


# -- quirks ---------------------------------------------------------------------------------


def test_normalize_query_fixes_lowercase_variable_types_only() -> None:
    text = 'mutation($drain: bool! $x: [int] $s: String) { f(a: "bool!", b: $drain) }'
    fixed = normalize_query(text)
    assert fixed == 'mutation($drain: Boolean! $x: [Int] $s: String) { f(a: "bool!", b: $drain) }'
    untouched = "query { rounds(number: 0) { number } } # bool"
    assert normalize_query(untouched) is untouched


class _Captured(Exception):
    pass


def _numerapi_queries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Every query text numerapi sends for the operations this server implements."""
    captured: list[tuple[str, str, dict[str, Any]]] = []
    current = [""]

    def raw_query(self: Any, query: str, variables: Any = None, **_kw: Any) -> Any:
        captured.append((current[0], query, dict(variables or {})))
        for endpoint in ("submission_upload_auth", "diagnosticsUploadAuth"):
            if f"{endpoint}(" in query:
                return {"data": {endpoint: {"filename": "1/x/p.csv", "url": "http://x/"}}}
        raise _Captured

    monkeypatch.setattr(numerapi.base_api.Api, "raw_query", raw_query)
    monkeypatch.setattr(numerapi.base_api.requests, "put", lambda *a, **k: None)
    napi = numerapi.NumerAPI("public", "secret", show_progress_bars=False)
    calls: dict[str, Callable[[], Any]] = {
        "get_current_round": napi.get_current_round,
        "check_round_open": napi.check_round_open,
        "check_new_round": napi.check_new_round,
        "list_rounds": lambda: napi.list_rounds(status="open", limit=3),
        "get_competitions": napi.get_competitions,
        "list_datasets": napi.list_datasets,
        "download_dataset": lambda: napi.download_dataset("v5.0/live.parquet", "/nonexistent/x"),
        "get_account": napi.get_account,
        "get_models": napi.get_models,
        "models_of_account": lambda: napi.models_of_account("alice"),
        "public_user_profile": lambda: napi.public_user_profile("alpha"),
        "stake_get": lambda: napi.stake_get("alpha"),
        "daily_model_performances": lambda: napi.daily_model_performances("alpha"),
        "modelid_to_modelname": lambda: napi.modelid_to_modelname("1"),
        "get_submission_filenames": lambda: napi.get_submission_filenames(model_id="1"),
        "submission_ids": lambda: napi.submission_ids("1"),
        "upload_predictions": lambda: napi.upload_predictions("/dev/null", model_id="1"),
        "upload_diagnostics": lambda: napi.upload_diagnostics("/dev/null", model_id="1"),
        "diagnostics": lambda: napi.diagnostics("1"),
        "submission_scores": lambda: napi.submission_scores("1", last_n_rounds=2),
        "round_model_performances_v2": lambda: napi.round_model_performances_v2("1"),
        "intra_round_scores": lambda: napi.intra_round_scores("1"),
        "pending_model_payouts": napi.pending_model_payouts,
        "stake_change": lambda: napi.stake_change(1, "increase", "1"),
        "stake_drain": lambda: napi.stake_drain("1"),
        "get_leaderboard": napi.get_leaderboard,
        "get_account_leaderboard": napi.get_account_leaderboard,
    }
    for name, call in calls.items():
        current[0] = name
        with pytest.raises((_Captured, FileNotFoundError, OSError)):
            if name == "round_model_performances_v2":
                with pytest.warns(DeprecationWarning):
                    call()
            else:
                call()
    return captured


def test_every_numerapi_query_validates_against_the_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured = _numerapi_queries(monkeypatch)
    seen = {name for name, _, _ in captured}
    assert {"upload_predictions", "upload_diagnostics", "stake_drain", "stake_change"} <= seen
    assert sum(1 for name, _, _ in captured if name == "upload_predictions") == 2
    graphql_schema = schema._schema
    for name, query, _variables in captured:
        errors = validate(graphql_schema, parse(normalize_query(query)))
        assert not errors, (name, [e.message for e in errors])
    # and without the normalization the releaseStake quirk would be refused
    drain = next(q for n, q, _ in captured if n == "stake_drain")
    assert validate(graphql_schema, parse(drain))
