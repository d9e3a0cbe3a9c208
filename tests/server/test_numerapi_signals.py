"""numerapi 3.1.1's ``SignalsAPI``, unchanged, against a crowdalpha server running Classic and
Signals, started on 127.0.0.1 by uvicorn: the universe, datasets, uploads by two id types,
refusals, stakes, diagnostics, two rounds played to resolution, scores, payouts, the
leaderboard and the daily profile."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numerapi
import numerapi.base_api
import pandas as pd
import pytest
from sqlalchemy import Engine
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from tests.server.graphql_support import (
    Participant,
    add_participant,
    await_diagnostics,
    settings_for,
    start_clock,
)
from tests.server.signals_support import (
    VALIDATION_DATES,
    SignalsData,
    build_two,
    signal_frame,
)

from crowdalpha.ledger import format_nmr, nmr
from crowdalpha.server.app import create_app
from crowdalpha.tournament import Tournament


class LiveSignals:
    """A server running Classic and Signals in a uvicorn thread on 127.0.0.1."""

    def __init__(self, engine: Engine, home: Path) -> None:
        self.clock = start_clock()
        self.tournament, self.data = build_two(engine, home, self.clock)
        self.signals: Tournament = self.tournament.using("signals")
        self.tournament.tick()
        self.server = ServerThread()
        self.url = self.server.url
        self.app = create_app(
            self.tournament, settings_for(home, self.url), background=False, jobs=True
        )

    def __enter__(self) -> LiveSignals:
        self.server.start(self.app, http="h11", lifespan="on")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.tournament.tick()


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveSignals]:
    engine = fresh_engine("sqlite", tmp_path)
    with LiveSignals(engine, tmp_path / "home") as server:
        monkeypatch.setattr(numerapi.base_api, "API_TOURNAMENT_URL", f"{server.url}/graphql")
        yield server
    engine.dispose()


def _signals_participant(t: Tournament, name: str, models: tuple[str, ...]) -> Participant:
    """An account with one Classic model and the given Signals models."""
    who = add_participant(t, name, (f"{name}_classic",), wallet="100")
    signals = t.using("signals")
    for model in models:
        who.models[model] = signals.create_model(who.account_id, model).id
    return who


def test_a_participant_uses_signalsapi_unchanged(live: LiveSignals, tmp_path: Path) -> None:
    t, s, data = live.tournament, live.signals, live.data
    alice = _signals_participant(t, "alice", ("sig_a", "sig_b"))
    napi = numerapi.SignalsAPI(alice.public_id, alice.secret, show_progress_bars=False)
    napi.set_global_data_dir(str(tmp_path / "data"))

    # -- rounds, the universe and the data ---------------------------------------------------
    assert napi.get_current_round() == 1
    [open_round] = napi.list_rounds(status="open")
    assert open_round["tournament"] == 11 and open_round["number"] == 1
    payout_configs = {c["displayName"]: c for c in open_round["roundScoreConfigs"]}
    assert payout_configs["alpha"]["isPayout"] and payout_configs["mpc"]["isPayout"]
    assert payout_configs["alpha"]["defaultMultiplier"] == "0.3"
    assert payout_configs["mpc"]["clipThreshold"] == "0.017"
    assert not payout_configs["corr_v4"]["isPayout"]
    assert napi.ticker_universe() == data.tickers
    datasets = napi.list_datasets()
    for name in ("signals/v2.0/live.parquet", "signals/v2.0/validation.parquet"):
        assert name in datasets
    assert not any(name.startswith("v5.0/") for name in datasets)  # Classic's are apart
    live_path = napi.download_dataset("signals/v2.0/live.parquet", "live.parquet")
    live_data = pd.read_parquet(live_path)
    assert list(live_data["numerai_ticker"]) == data.tickers
    assert list(live_data["composite_figi"]) == data.figis
    with pytest.raises(ValueError, match="not_found"):
        napi.download_dataset("v5.0/live.parquet", "classic.parquet")

    # -- models and uploads --------------------------------------------------------------------
    models = napi.get_models()
    assert models == {"sig_a": str(alice.models["sig_a"]), "sig_b": str(alice.models["sig_b"])}
    by_ticker = signal_frame(data, 1, 0.5, seed=1)
    first_a = napi.upload_predictions(df=by_ticker, model_id=models["sig_a"])
    by_figi = signal_frame(data, 1, 1.5, seed=2, column="composite_figi")
    by_figi = by_figi.rename(columns={"signal": "prediction"})
    extra = pd.DataFrame({"composite_figi": ["BBGUNKNOWN01"], "prediction": [0.5]})
    first_b = napi.upload_predictions(df=pd.concat([by_figi, extra]), model_id=models["sig_b"])
    stored = {str(sub.id): sub for sub in s.submissions(round_number=1)}
    assert set(stored) == {first_a, first_b}
    assert stored[first_b].unknown_ids == 1  # reported back, not fatal
    assert t.submissions() == []  # nothing reached Classic

    refusals = {
        "invalid_submission_ids": by_ticker.iloc[:99],
        "invalid_submission_headers": pd.DataFrame({"id": data.tickers, "prediction": 0.5}),
        "invalid_submission_values": by_ticker.assign(signal=0.5),
    }
    for code, frame in refusals.items():
        with pytest.raises(ValueError, match=code):
            napi.upload_predictions(df=frame, model_id=models["sig_a"])
    classic_model = str(alice.models["alice_classic"])
    with pytest.raises(ValueError, match=r"invalid_parameter: .*Classic model"):
        napi.upload_predictions(df=by_ticker, model_id=classic_model)
    assert len(s.submissions(round_number=1)) == 2  # nothing stored by a refusal

    # -- stakes --------------------------------------------------------------------------------
    assert napi.stake_increase(30, models["sig_a"])["type"] == "increase"
    napi.stake_increase("10.5", models["sig_b"])
    assert napi.stake_get("sig_a") == Decimal(30)
    assert napi.stake_get("sig_b") == Decimal("10.5")
    assert napi.get_account()["availableNmr"] == Decimal("59.5")  # one wallet, shared
    with pytest.raises(ValueError, match="invalid_parameter"):
        napi.stake_get("alice_classic")  # a Classic model, asked as Signals

    # -- diagnostics on the validation dates ----------------------------------------------------
    dated = pd.concat(
        [signal_frame(data, d, 0.5, seed=i).assign(date=d) for i, d in enumerate(VALIDATION_DATES)]
    )
    diagnostics_id = napi.upload_diagnostics(df=dated, model_id=models["sig_a"])
    report = await_diagnostics(napi, models["sig_a"], diagnostics_id)
    assert report["status"] == "succeeded" and report["erasAcceptedCount"] == 3
    assert [e["era"] for e in report["perEraDiagnostics"]] == list(VALIDATION_DATES)
    assert report["validationCorrMean"] > 0.05  # a skilled signal scores on validation
    # a refused file: the upload is queued, its job fails with the rules' reason
    undated = signal_frame(data, VALIDATION_DATES[0], 0.5, seed=0)
    refused_id = napi.upload_diagnostics(df=undated, model_id=models["sig_a"])
    refused = await_diagnostics(napi, models["sig_a"], refused_id)
    assert refused["status"] == "failed" and refused["erasAcceptedCount"] == 0
    assert re.match(r"invalid_submission_headers: .*date", refused["message"])

    # -- two rounds: the second is the first with a previous submission --------------------------
    live.advance(timedelta(days=7))
    assert napi.get_current_round() == 2
    second = {}
    for i, name in enumerate(("sig_a", "sig_b")):
        frame = signal_frame(data, 1, 0.5 + i, seed=1 + i)  # the same signal: low churn
        second[name] = napi.upload_predictions(df=frame, model_id=models[name])
    pending = napi.pending_model_payouts()
    assert {(p["modelName"], p["roundNumber"]) for p in pending["pending"]} == {
        ("sig_a", 1),
        ("sig_b", 1),
    }
    live.advance(timedelta(days=7 + 28))  # rounds 1 and 2 resolve
    assert [r.state for r in s.rounds()][:2] == ["resolved", "resolved"]

    # -- scores and payouts --------------------------------------------------------------------
    for model_id in models.values():
        scores = napi.submission_scores(model_id)
        names = {row["displayName"] for row in scores}
        assert {"alpha", "mpc", "corr_v4", "fnc_v4", "mmc", "churn"} <= names
        for row in scores:
            if row["displayName"] == "alpha":
                expected = s.scores(model_id=int(model_id), round_number=row["roundNumber"])[0]
                assert row["value"] == pytest.approx(expected.get("alpha"))
                assert row["resolved"] is True and row["roundResolveTime"].tzinfo is not None
        alpha_only = napi.submission_scores(model_id, display_name="alpha")
        assert {r["roundNumber"] for r in alpha_only} == {1, 2}
    payouts = napi.pending_model_payouts()
    assert payouts["pending"] == []
    actual = {(p["modelName"], p["roundNumber"]): p for p in payouts["actual"]}
    # round 1 had no previous submission: nothing at risk, nothing paid; round 2 staked in full
    assert set(actual) == {("sig_a", 2), ("sig_b", 2)}
    for name, staked in (("sig_a", nmr(30)), ("sig_b", nmr("10.5"))):
        [paid] = s.payouts(model_id=alice.models[name])
        assert paid.round_number == 2 and paid.stake_at_risk == staked and paid.amount != 0
        assert actual[(name, 2)]["payoutNmr"] == Decimal(format_nmr(paid.amount))
        gate = s.scores(model_id=alice.models[name], round_number=2)[0]
        assert gate.get("churn") == pytest.approx(0.0)  # the same signal twice

    board = napi.get_leaderboard()
    assert {row["username"] for row in board} == {"sig_a", "sig_b"}
    assert [row["rank"] for row in board] == [1, 2]
    daily = napi.daily_model_performances("sig_a")
    assert len(daily) == 2 and all(d["date"].tzinfo is not None for d in daily)
    finals = [x.get("corr") for x in s.scores(model_id=alice.models["sig_a"])]
    assert daily[-1]["corrRep"] == pytest.approx(sum(finals) / len(finals))
    assert t.check_ledger().ok

    # -- Classic's API does not see Signals ------------------------------------------------------
    classic = numerapi.NumerAPI(alice.public_id, alice.secret, show_progress_bars=False)
    assert classic.get_models() == {"alice_classic": classic_model}
    assert {row["username"] for row in classic.get_leaderboard()} == {"alice_classic"}
    with pytest.raises(ValueError, match="invalid_submission_headers"):  # the reverse mix-up
        classic.upload_predictions(df=by_ticker, model_id=classic_model)
    with pytest.raises(ValueError, match=r"invalid_parameter: .*Signals model"):
        classic.upload_predictions(df=by_ticker, model_id=models["sig_a"])
    assert t.submissions() == []


def test_signals_operations_are_refused_where_signals_does_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.server.test_numerapi import LiveServer

    engine = fresh_engine("sqlite", tmp_path)
    with LiveServer(engine, tmp_path / "home") as server:
        monkeypatch.setattr(numerapi.base_api, "API_TOURNAMENT_URL", f"{server.url}/graphql")
        napi = numerapi.SignalsAPI(show_progress_bars=False)
        with pytest.raises(ValueError, match=r"invalid_parameter: .*no tournament 11"):
            napi.get_leaderboard()
        with pytest.raises(ValueError, match=r"invalid_parameter: .*no tournament 11"):
            napi.list_datasets()
    engine.dispose()


def test_signals_data_is_what_the_round_published(live: LiveSignals) -> None:
    data: SignalsData = live.data
    assert live.signals.live_ids(1) == data.tickers
