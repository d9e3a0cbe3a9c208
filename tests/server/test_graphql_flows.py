"""Numerai's GraphQL API through the app: uploads, stakes, scores, payouts, the leaderboard
and diagnostics, with their refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine
from tests.server.graphql_support import (
    GraphQLHarness,
    Participant,
    ValidatingRoundData,
    add_participant,
    predictions_csv,
    skilled,
)

from crowdalpha.ledger import format_nmr, nmr
from crowdalpha.scoring import score_by_era

UPLOAD_AUTH = """query($filename: String! $tournament: Int! $modelId: String) {
  submission_upload_auth(filename: $filename tournament: $tournament modelId: $modelId) {
    filename url } }"""

CREATE = """mutation($filename: String! $tournament: Int! $modelId: String $triggerId: String,
                  $dataDatestamp: Int $round: Int) {
  create_submission(filename: $filename tournament: $tournament modelId: $modelId
                    triggerId: $triggerId source: "numerapi" dataDatestamp: $dataDatestamp
                    round: $round) { id filename roundNumber state } }"""

CHANGE = """mutation($value: String! $type: String! $tournamentNumber: Int! $modelId: String) {
  v2ChangeStake(value: $value type: $type modelId: $modelId
                tournamentNumber: $tournamentNumber) {
    dueDate requestedAmount status type stake } }"""

DRAIN = """mutation($drain: bool! $amount: String $modelId: String) {
  releaseStake(drain: $drain modelId: $modelId amount: $amount) {
    id dueDate status type requestedAmount drain } }"""

STAKE_GET = """query($model_name: String! $tournament: Int) {
  v3UserProfile(model_name: $model_name tournament: $tournament) { stakeValue } }"""

SCORES = """query($modelId: ID! $displayName: String $resolved: Boolean $lastNRounds: Int
      $tournament: Int) {
  submissionScores(modelId: $modelId displayName: $displayName resolved: $resolved
                   lastNRounds: $lastNRounds tournament: $tournament) {
    roundId submissionId roundNumber roundResolveTime roundCloseStakingTime value percentile
    displayName version date day resolveDate resolved } }"""

PERFORMANCES = """query($modelId: String! $tournament: Int!) {
  v2RoundModelPerformances(modelId: $modelId tournament: $tournament) {
    atRisk payoutMultipliers { name multiplier } roundPayoutFactor roundNumber roundOpenTime
    roundResolveTime roundResolved submissionScores { displayName value percentile
    payoutPending payoutSettled date day } intraRoundSubmissionScores { displayName value }
    corrWMetamodel } }"""

PAYOUTS = """query($tournament: Int!) { pendingModelPayouts(tournament: $tournament) {
  actual { roundNumber modelId modelName payoutNmr currencySymbol roundResolveTime }
  pending { roundNumber modelId modelName payoutNmr } } }"""


@pytest.fixture
def h(engine: Engine, tmp_path: Path) -> GraphQLHarness:
    return GraphQLHarness(engine, tmp_path)


@pytest.fixture
def alice(h: GraphQLHarness) -> Participant:
    return add_participant(h.tournament, "alice", ("alpha", "beta"))


@pytest.fixture
def bob(h: GraphQLHarness) -> Participant:
    return add_participant(h.tournament, "bob", ("gamma",))


def upload(
    h: GraphQLHarness,
    who: Participant,
    model: str,
    content: bytes,
    *,
    filename: str = "predictions.csv",
    round_number: int | None = None,
) -> dict[str, Any]:
    auth = h.data_of(
        UPLOAD_AUTH,
        {"filename": filename, "tournament": 8, "modelId": str(who.models[model])},
        who=who,
    )["submission_upload_auth"]
    put = h.client.put(auth["url"], content=content)
    assert put.status_code == 200, put.text
    return h.post(
        CREATE,
        {
            "filename": auth["filename"],
            "tournament": 8,
            "modelId": str(who.models[model]),
            "triggerId": None,
            "dataDatestamp": None,
            "round": round_number,
        },
        who=who,
    )


def good_file(h: GraphQLHarness, number: int = 1, seed: int = 0, noise: float = 1.0) -> bytes:
    ids = h.live_ids(number)
    return predictions_csv(ids, skilled(h.data.skill_signal(number), noise, seed))


# -- uploads ------------------------------------------------------------------------------


def test_upload_flow_records_a_submission(h: GraphQLHarness, alice: Participant) -> None:
    reply = upload(h, alice, "alpha", good_file(h), filename="../../my preds.csv")
    created = reply["data"]["create_submission"]
    assert created["roundNumber"] == 1 and created["state"] == "validated"
    assert created["filename"] == "my_preds.csv"
    subs = h.tournament.submissions(model_id=alice.models["alpha"])
    assert [str(s.id) for s in subs] == [created["id"]]
    assert not list(h.tournament.store.keys("uploads/"))  # the staged file is gone
    listed = h.data_of(
        "query($m: String) { submissions(modelId: $m) { id filename insertedAt } }",
        {"m": str(alice.models["alpha"])},
        who=alice,
    )["submissions"]
    assert [s["id"] for s in listed] == [created["id"]]
    filenames = h.data_of(
        """query($modelId: String) { model(modelId: $modelId) { submissions {
          filename selected round { tournament number } } } }""",
        {"modelId": str(alice.models["alpha"])},
        who=alice,
    )["model"]["submissions"]
    assert filenames == [
        {"filename": "my_preds.csv", "selected": True, "round": {"tournament": 8, "number": 1}}
    ]


def test_upload_refusals(h: GraphQLHarness, alice: Participant, bob: Participant) -> None:
    ids = h.live_ids()
    bad = upload(h, alice, "alpha", predictions_csv(ids[:10], [0.5] * 10))
    assert bad["errors"][0]["message"].startswith("invalid_submission")
    assert bad["errors"][0]["extensions"]["code"].startswith("invalid_submission")
    constant = upload(h, alice, "alpha", predictions_csv(ids, [0.5] * len(ids)))
    assert constant["errors"][0]["message"].startswith("invalid_submission_values:")
    assert h.tournament.submissions() == []

    auth = h.data_of(
        UPLOAD_AUTH,
        {"filename": "p.csv", "tournament": 8, "modelId": str(alice.models["alpha"])},
        who=alice,
    )["submission_upload_auth"]
    variables = {"filename": auth["filename"], "tournament": 8}
    # nothing was PUT yet
    never = h.error_of(CREATE, {**variables, "modelId": str(alice.models["alpha"])}, who=alice)
    assert never.startswith("not_found:") and "PUT the file" in never
    assert h.client.put(auth["url"], content=good_file(h)).status_code == 200
    # someone else's upload name
    stolen = h.error_of(CREATE, {**variables, "modelId": str(bob.models["gamma"])}, who=bob)
    assert stolen.startswith("permission_denied:")
    forged = h.error_of(CREATE, {"filename": "../etc/passwd", "tournament": 8}, who=bob)
    assert forged.startswith("invalid_parameter:")


def test_upload_to_a_resolved_round_is_refused(h: GraphQLHarness, alice: Participant) -> None:
    h.advance(timedelta(days=7 + 28 + 1))  # round 1 closes and resolves
    assert h.tournament.round(1).state == "resolved"
    reply = upload(h, alice, "alpha", good_file(h), round_number=1)
    message = reply["errors"][0]["message"]
    assert message.startswith("round_state:") and "resolved" in message
    # the open round still takes it
    current = h.tournament.current_round()
    assert current is not None
    reply = upload(h, alice, "alpha", good_file(h, current.number))
    assert reply["data"]["create_submission"]["roundNumber"] == current.number


# -- stakes -------------------------------------------------------------------------------


def test_stake_increase_decrease_and_get_exactly(h: GraphQLHarness, alice: Participant) -> None:
    alpha = str(alice.models["alpha"])
    up = h.data_of(
        CHANGE,
        {"value": "10.5", "type": "increase", "tournamentNumber": 8, "modelId": alpha},
        who=alice,
    )["v2ChangeStake"]
    assert up == {
        "dueDate": None,
        "requestedAmount": "10.500000000000000000",
        "status": "staked",
        "type": "increase",
        "stake": "10.500000000000000000",
    }
    tiny = "0.000000000000000001"
    down = h.data_of(
        CHANGE,
        {"value": tiny, "type": "decrease", "tournamentNumber": 8, "modelId": alpha},
        who=alice,
    )["v2ChangeStake"]
    assert down["status"] == "released" and down["dueDate"] is None
    assert down["stake"] == "10.499999999999999999"
    assert h.tournament.stake_info(alice.models["alpha"]).stake == nmr("10.5") - 1
    got = h.data_of(STAKE_GET, {"model_name": "alpha", "tournament": 8})["v3UserProfile"]
    assert got["stakeValue"] == "10.499999999999999999"
    wallet = h.data_of("query { account { availableNmr } }", who=alice)["account"]
    assert wallet["availableNmr"] == format_nmr(nmr(100) - nmr("10.5") + 1, trim=False)


def test_decrease_while_at_risk_is_pending_until_resolution(
    h: GraphQLHarness, alice: Participant
) -> None:
    alpha = str(alice.models["alpha"])
    h.tournament.increase_stake(alice.models["alpha"], nmr(20))
    upload(h, alice, "alpha", good_file(h))
    h.advance(timedelta(days=7))  # round 1 closes with alpha at risk
    down = h.data_of(
        CHANGE,
        {"value": "5", "type": "decrease", "tournamentNumber": 8, "modelId": alpha},
        who=alice,
    )["v2ChangeStake"]
    assert down["status"] == "pending"
    assert down["dueDate"] == h.tournament.round(1).resolves_at.isoformat()
    drained = h.data_of(DRAIN, {"drain": True, "amount": "11000000", "modelId": alpha}, who=alice)
    release = drained["releaseStake"]
    assert release["drain"] is True and release["type"] == "decrease"
    assert release["requestedAmount"] == "15.000000000000000000"
    assert release["status"] == "pending" and release["id"]
    assert h.tournament.stake_info(alice.models["alpha"]).stake == 0
    nothing = h.error_of(DRAIN, {"drain": True, "modelId": alpha}, who=alice)
    assert nothing.startswith("invalid_amount:")


def test_release_stake_by_amount(h: GraphQLHarness, alice: Participant) -> None:
    beta = str(alice.models["beta"])
    h.tournament.increase_stake(alice.models["beta"], nmr(3))
    partial = h.data_of(DRAIN, {"drain": False, "amount": "1.25", "modelId": beta}, who=alice)
    assert partial["releaseStake"]["requestedAmount"] == "1.250000000000000000"
    assert h.tournament.stake_info(alice.models["beta"]).stake == nmr("1.75")
    missing = h.error_of(DRAIN, {"drain": False, "modelId": beta}, who=alice)
    assert missing.startswith("invalid_parameter:")


@pytest.mark.parametrize(
    ("value", "kind", "code"),
    [
        ("abc", "increase", "invalid_amount"),
        ("-1", "increase", "invalid_amount"),
        ("0", "increase", "invalid_amount"),
        ("1.0000000000000000001", "increase", "invalid_amount"),
        ("NaN", "increase", "invalid_amount"),
        ("1", "sideways", "invalid_parameter"),
        ("100.000000000000000001", "increase", "insufficient_funds"),
        ("1", "decrease", "insufficient_funds"),
    ],
)
def test_bad_stake_changes_are_refused(
    h: GraphQLHarness, alice: Participant, value: str, kind: str, code: str
) -> None:
    alpha = str(alice.models["alpha"])
    message = h.error_of(
        CHANGE, {"value": value, "type": kind, "tournamentNumber": 8, "modelId": alpha}, who=alice
    )
    assert message.startswith(f"{code}:"), message
    assert h.tournament.stake_info(alice.models["alpha"]).stake == 0
    assert h.tournament.wallet_balance(alice.account_id) == nmr(100)


def test_float_amounts_never_enter(h: GraphQLHarness, alice: Participant) -> None:
    alpha = str(alice.models["alpha"])
    message = h.error_of(
        CHANGE,
        {"value": 1.5, "type": "increase", "tournamentNumber": 8, "modelId": alpha},
        who=alice,
    )
    assert message.startswith("invalid_query:") and "String" in message


def test_stake_limits_surface(h: GraphQLHarness, alice: Participant) -> None:
    h.tournament.set_limits(alice.account_id, max_stake=nmr(5))
    message = h.error_of(
        CHANGE,
        {
            "value": "6",
            "type": "increase",
            "tournamentNumber": 8,
            "modelId": str(alice.models["alpha"]),
        },
        who=alice,
    )
    assert message.startswith("stake_limit_exceeded:")


# -- scores, payouts, leaderboard -----------------------------------------------------------


def test_scores_payouts_and_leaderboard(
    h: GraphQLHarness, alice: Participant, bob: Participant
) -> None:
    t = h.tournament
    t.increase_stake(alice.models["alpha"], nmr(50))
    t.increase_stake(bob.models["gamma"], nmr(30))
    upload(h, alice, "alpha", good_file(h, seed=1, noise=0.5))
    upload(h, alice, "beta", good_file(h, seed=2, noise=3.0))
    upload(h, bob, "gamma", good_file(h, seed=3, noise=1.0))
    alpha = str(alice.models["alpha"])

    h.advance(timedelta(days=7))  # closed: pending payouts, stakes frozen at risk
    pending = h.data_of(PAYOUTS, {"tournament": 8}, who=alice)["pendingModelPayouts"]
    assert pending["actual"] == []
    assert sorted(p["modelName"] for p in pending["pending"]) == ["alpha", "beta"]
    assert all(p["payoutNmr"] is None for p in pending["pending"])

    h.advance(timedelta(days=7))  # provisional scores
    provisional = h.data_of(SCORES, {"modelId": alpha, "tournament": 8})["submissionScores"]
    assert {s["displayName"] for s in provisional} == {
        "v2_corr20",
        "mmc",
        "fnc_v4",
        "bmc",
        "mpc",
        "corr_w_metamodel",
        "max_feature_exposure",
    }
    assert all(s["resolved"] is False for s in provisional)
    perf = h.data_of(PERFORMANCES, {"modelId": alpha, "tournament": 8})
    first = perf["v2RoundModelPerformances"][-1]
    assert first["roundNumber"] == 1 and first["atRisk"] == "50.000000000000000000"
    beta = h.data_of(PERFORMANCES, {"modelId": str(alice.models["beta"]), "tournament": 8})
    assert beta["v2RoundModelPerformances"][-1]["atRisk"] == "0.000000000000000000"
    # CORR, MMC, FNC, BMC, MPC and the two diagnostics (corr w/ meta model, max exposure)
    assert len(first["intraRoundSubmissionScores"]) == 7

    h.advance(timedelta(days=21))  # resolved
    assert t.round(1).state == "resolved"
    scores = h.data_of(SCORES, {"modelId": alpha, "tournament": 8, "resolved": True})[
        "submissionScores"
    ]
    final = {s["displayName"]: s for s in scores}
    stored = t.scores(model_id=alice.models["alpha"], round_number=1)[0]
    assert final["v2_corr20"]["value"] == pytest.approx(stored.corr)
    assert final["mmc"]["value"] == pytest.approx(stored.mmc)
    assert final["mpc"]["value"] == pytest.approx(stored.mpc)
    assert final["corr_w_metamodel"]["value"] == pytest.approx(stored.get("corr_meta"))
    assert final["max_feature_exposure"]["value"] == pytest.approx(stored.get("feature_exposure"))
    assert 0 < final["v2_corr20"]["percentile"] <= 1
    assert final["v2_corr20"]["roundNumber"] == 1 and final["v2_corr20"]["resolved"] is True
    assert final["v2_corr20"]["submissionId"] == str(
        t.submissions(model_id=alice.models["alpha"])[0].id
    )
    for field in ("roundResolveTime", "date", "resolveDate", "roundCloseStakingTime"):
        assert final["v2_corr20"][field].endswith("+00:00")
    only = h.data_of(SCORES, {"modelId": alpha, "displayName": "corr"})["submissionScores"]
    assert [s["displayName"] for s in only] == ["v2_corr20"]
    assert h.data_of(SCORES, {"modelId": alpha, "lastNRounds": 0})["submissionScores"] == []
    by_name = h.data_of(SCORES, {"modelId": "alpha", "displayName": "mmc"})["submissionScores"]
    assert len(by_name) == 1

    paid = t.payouts(model_id=alice.models["alpha"], round_number=1)[0]
    perf = h.data_of(PERFORMANCES, {"modelId": alpha, "tournament": 8})
    first = perf["v2RoundModelPerformances"][-1]
    assert first["roundResolved"] is True and first["atRisk"] == "50.000000000000000000"
    assert first["roundPayoutFactor"] == pytest.approx(float(t.round(1).payout_factor or 0))
    assert first["corrWMetamodel"] == pytest.approx(
        t.scores(model_id=alice.models["alpha"], round_number=1)[0].get("corr_meta")
    )
    canon = next(s for s in first["submissionScores"] if s["displayName"] == "v2_corr20")
    assert canon["payoutSettled"] == format_nmr(paid.amount, trim=False)
    assert {m["name"]: m["multiplier"] for m in first["payoutMultipliers"]} == {
        "v2_corr20": 0.5,
        "mmc": 2.0,
    }

    payouts = h.data_of(PAYOUTS, {"tournament": 8}, who=alice)["pendingModelPayouts"]
    actual = {p["modelName"]: p for p in payouts["actual"]}
    assert set(actual) == {"alpha"}  # beta was not staked
    assert actual["alpha"]["payoutNmr"] == format_nmr(paid.amount, trim=False)
    assert actual["alpha"]["currencySymbol"] == "NMR" and actual["alpha"]["roundNumber"] == 1
    assert payouts["pending"] == []

    board = h.data_of(
        """query($limit: Int! $offset: Int!) { v2Leaderboard(limit: $limit offset: $offset) {
          nmrStaked rank username corr20Rep corr20V2Rep corj60Rep fncRep fncV3Rep tcRep mmcRep
          bmcRep team return_1_day return_52_weeks return_13_weeks } }""",
        {"limit": 10, "offset": 0},
    )["v2Leaderboard"]
    rows = {r["username"]: r for r in board}
    assert set(rows) == {"alpha", "beta", "gamma"}
    ranks = t.leaderboard()
    assert [r["username"] for r in board] == [r.model_name for r in ranks]
    assert rows["alpha"]["corr20Rep"] == pytest.approx(stored.corr)
    assert rows["alpha"]["nmrStaked"] == format_nmr(
        t.stake_info(alice.models["alpha"]).stake, trim=False
    )
    second = h.data_of("query { v2Leaderboard(limit: 1, offset: 1) { rank username } }")[
        "v2Leaderboard"
    ]
    assert second == [{"rank": 2, "username": board[1]["username"]}]
    accounts = h.data_of(
        """query($limit: Int! $offset: Int! $tournament: Int) {
          accountLeaderboard(limit: $limit offset: $offset tournament: $tournament) {
            rank username nmrStaked v2Corr20 } }""",
        {"limit": 10, "offset": 0, "tournament": 8},
    )["accountLeaderboard"]
    assert {a["username"] for a in accounts} == {"alice", "bob"}
    daily = h.data_of(
        'query { v3UserProfile(modelName: "alpha") { dailyModelPerformances { date corrRep } } }'
    )["v3UserProfile"]["dailyModelPerformances"]
    assert len(daily) == 1 and daily[0]["corrRep"] == pytest.approx(stored.corr)


# -- diagnostics ----------------------------------------------------------------------------

DIAG_AUTH = """query($filename: String! $tournament: Int! $modelId: String) {
  diagnosticsUploadAuth(filename: $filename tournament: $tournament modelId: $modelId) {
    filename url } }"""
DIAG_CREATE = """mutation($filename: String! $tournament: Int! $modelId: String) {
  createDiagnostics(filename: $filename tournament: $tournament modelId: $modelId) { id } }"""
DIAG = """query($id: String $modelId: String!) { diagnostics(id: $id modelId: $modelId) {
  id status message erasAcceptedCount updatedAt trainedOnVal validationCorrMean
  validationCorrSharpe validationCorrStd validationMaxDrawdown validationFeatureNeutralCorrMean
  perEraDiagnostics { era validationCorr validationFeatureNeutralCorr validationMmc } } }"""


def test_diagnostics_score_validation_per_era(h: GraphQLHarness, alice: Participant) -> None:
    assert isinstance(h.data, ValidatingRoundData)
    validation = h.data.validation()
    signal = h.data.validation_signal()
    values = skilled(signal, 1.0, seed=5)
    content = predictions_csv(list(validation.index), values)
    alpha = str(alice.models["alpha"])
    auth = h.data_of(
        DIAG_AUTH, {"filename": "val.csv", "tournament": 8, "modelId": alpha}, who=alice
    )["diagnosticsUploadAuth"]
    assert h.client.put(auth["url"], content=content).status_code == 200
    create = {"filename": auth["filename"], "tournament": 8, "modelId": alpha}
    created = h.data_of(DIAG_CREATE, create, who=alice)["createDiagnostics"]
    # queued, not scored in the request; numerapi's retry of the create call queues nothing
    queued = h.data_of(DIAG, {"id": created["id"], "modelId": alpha}, who=alice)["diagnostics"]
    assert (queued["status"], queued["erasAcceptedCount"], queued["perEraDiagnostics"]) == (
        "queued",
        0,
        [],
    )
    assert h.data_of(DIAG_CREATE, create, who=alice)["createDiagnostics"] == created
    assert h.run_jobs() == 1
    result = h.data_of(DIAG, {"id": None, "modelId": alpha}, who=alice)["diagnostics"]
    assert result["id"] == created["id"] and result["status"] == "succeeded"
    assert result["erasAcceptedCount"] == 3 and result["trainedOnVal"] is False
    assert result["updatedAt"].endswith("+00:00")
    expected = score_by_era(
        pd.DataFrame({"prediction": values}, index=validation.index),
        validation["target"],
        validation["era"],
        features=validation[[c for c in validation.columns if c.startswith("feature_")]],
    )
    per_era = {e["era"]: e for e in result["perEraDiagnostics"]}
    assert sorted(per_era) == ["0001", "0002", "0003"]
    for era, value in expected["corr"]["prediction"].items():
        assert per_era[str(era)]["validationCorr"] == pytest.approx(value)
    for era, value in expected["fnc"]["prediction"].items():
        assert per_era[str(era)]["validationFeatureNeutralCorr"] == pytest.approx(value)
    assert result["validationCorrMean"] == pytest.approx(expected["corr"]["prediction"].mean())
    assert result["validationCorrMean"] > 0
    again = h.data_of(DIAG, {"id": created["id"], "modelId": alpha}, who=alice)["diagnostics"]
    assert again == result
    unknown = h.error_of(DIAG, {"id": "feedface", "modelId": alpha}, who=alice)
    assert unknown.startswith("not_found:")
    none_yet = h.error_of(DIAG, {"modelId": str(alice.models["beta"])}, who=alice)
    assert none_yet.startswith("not_found:")
    # a file that misses validation ids is refused with the submission rules' message
    h.clock.advance(timedelta(minutes=1))
    auth = h.data_of(
        DIAG_AUTH, {"filename": "val.csv", "tournament": 8, "modelId": alpha}, who=alice
    )["diagnosticsUploadAuth"]
    h.client.put(auth["url"], content=predictions_csv(list(validation.index[:5]), values[:5]))
    bad = h.data_of(
        DIAG_CREATE, {"filename": auth["filename"], "tournament": 8, "modelId": alpha}, who=alice
    )["createDiagnostics"]
    assert h.run_jobs() == 1
    refused = h.data_of(DIAG, {"id": bad["id"], "modelId": alpha}, who=alice)["diagnostics"]
    assert refused["status"] == "failed" and refused["message"].startswith("invalid_submission")
    # the latest is the refused one; the earlier result is still there by id
    latest = h.data_of(DIAG, {"id": None, "modelId": alpha}, who=alice)["diagnostics"]
    assert latest["id"] == bad["id"] and latest["status"] == "failed"
    assert (
        h.data_of(DIAG, {"id": created["id"], "modelId": alpha}, who=alice)["diagnostics"] == result
    )
    assert not list(h.tournament.store.keys("uploads/numerai/diagnostics/"))  # both dropped


DIAG_MORE = """query($modelId: String!) { diagnostics(modelId: $modelId) {
  validationFeatureCorrMax validationCorrMean
  perEraDiagnostics { era validationCorr validationFeatureCorrMax }
  byRegime { regime eras validationCorrMean validationFncV4Mean validationFeatureCorrMax } } }"""


def test_diagnostics_feature_exposure_and_regimes(h: GraphQLHarness, alice: Participant) -> None:
    """Each era's maximum feature exposure (numerai-tools' max_feature_correlation), their
    mean (Numerai's validationFeatureCorrMax) and the means per published regime label."""
    import numerai_tools.scoring as nt

    assert isinstance(h.data, ValidatingRoundData)
    validation = h.data.validation()
    values = skilled(h.data.validation_signal(), 1.0, seed=6)
    alpha = str(alice.models["alpha"])
    auth = h.data_of(
        DIAG_AUTH, {"filename": "val.csv", "tournament": 8, "modelId": alpha}, who=alice
    )["diagnosticsUploadAuth"]
    h.client.put(auth["url"], content=predictions_csv(list(validation.index), values))
    h.data_of(
        DIAG_CREATE, {"filename": auth["filename"], "tournament": 8, "modelId": alpha}, who=alice
    )
    assert h.run_jobs() == 1
    result = h.data_of(DIAG_MORE, {"modelId": alpha}, who=alice)["diagnostics"]
    preds = pd.Series(values, index=validation.index)
    features = [c for c in validation.columns if c.startswith("feature_")]
    exposures, corr = {}, {}
    for era, rows in validation.groupby("era"):
        rows = rows.sort_index()  # numerai-tools wants ids sorted
        _, exposures[era] = nt.max_feature_correlation(preds[rows.index], rows[features])
        p = preds[rows.index].to_frame("p")
        corr[era] = nt.numerai_corr(p, rows["target"])["p"]
    per_era = {e["era"]: e for e in result["perEraDiagnostics"]}
    for era, value in exposures.items():
        assert per_era[era]["validationFeatureCorrMax"] == pytest.approx(value, abs=1e-9)
    mean_exposure = sum(exposures.values()) / len(exposures)
    assert result["validationFeatureCorrMax"] == pytest.approx(mean_exposure, abs=1e-9)
    regimes = {r["regime"]: r for r in result["byRegime"]}
    assert sorted(regimes) == ["down_volatile", "up_calm"]
    for regime in regimes:
        eras = [e for e, label in h.data.regimes.items() if label == regime]
        assert regimes[regime]["eras"] == len(eras)
        expected = sum(corr[e] for e in eras) / len(eras)
        assert regimes[regime]["validationCorrMean"] == pytest.approx(expected, abs=1e-9)
        want = sum(exposures[e] for e in eras) / len(eras)
        assert regimes[regime]["validationFeatureCorrMax"] == pytest.approx(want, abs=1e-9)
