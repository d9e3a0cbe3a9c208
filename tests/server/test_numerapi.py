"""The real thing: the official numerapi 3.1.1 client, unchanged, against a crowdalpha server
started on 127.0.0.1 by uvicorn — download, upload, stake, resolve, read scores and payouts."""

from __future__ import annotations

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
    ROWS,
    SEED,
    Participant,
    ValidatingRoundData,
    add_participant,
    await_diagnostics,
    build_tournament,
    settings_for,
    skilled,
    start_clock,
)

from crowdalpha.ledger import format_nmr, nmr
from crowdalpha.server.app import create_app
from crowdalpha.tournament import Tournament


class LiveServer:
    """A crowdalpha server in a uvicorn thread, on a free port of 127.0.0.1."""

    def __init__(self, engine: Engine, home: Path) -> None:
        self.clock = start_clock()
        self.data = ValidatingRoundData(seed=SEED, rows=ROWS)
        self.tournament: Tournament = build_tournament(engine, home, self.clock, self.data)
        self.tournament.tick()
        self.server = ServerThread()
        self.url = self.server.url
        self.app = create_app(
            self.tournament,
            settings_for(home, self.url, webhook_allow_private=True),
            background=False,
            jobs=True,  # diagnostics run in the background, as in `crowdalpha serve`
        )

    def __enter__(self) -> LiveServer:
        self.server.start(self.app, http="h11", lifespan="on")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()

    def advance(self, delta: timedelta) -> None:
        """Move the tournament's clock (the server shares it) and run the round clock."""
        self.clock.advance(delta)
        self.tournament.tick()


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    engine = fresh_engine("sqlite", tmp_path)
    with LiveServer(engine, tmp_path / "home") as server:
        monkeypatch.setattr(numerapi.base_api, "API_TOURNAMENT_URL", f"{server.url}/graphql")
        yield server
    engine.dispose()


def test_a_participant_uses_numerapi_unchanged(live: LiveServer, tmp_path: Path) -> None:
    t = live.tournament
    alice: Participant = add_participant(t, "alice", ("alpha", "beta"), wallet="100")
    napi = numerapi.NumerAPI(alice.public_id, alice.secret, show_progress_bars=False)

    # -- rounds and data --------------------------------------------------------------------
    assert napi.get_current_round() == 1
    rounds = napi.list_rounds(status="open")
    assert [r["number"] for r in rounds] == [1]
    assert rounds[0]["openTime"].tzinfo is not None
    datasets = napi.list_datasets()
    assert "v5.0/live.parquet" in datasets and "v5.0/validation.parquet" in datasets
    dest = tmp_path / "data" / "live.parquet"
    assert napi.download_dataset("v5.0/live.parquet", str(dest)) == str(dest)
    live_data = pd.read_parquet(dest)
    assert list(live_data.index) == t.live_ids(1)
    # an interrupted download resumes with a Range request and ends identical
    full = dest.read_bytes()
    dest.unlink()
    Path(f"{dest}.temp").write_bytes(full[:1000])
    napi.download_dataset("v5.0/live.parquet", str(dest))
    assert dest.read_bytes() == full
    with pytest.raises(ValueError, match="not_found"):
        napi.download_dataset("v4.3/train.parquet", str(tmp_path / "nope.parquet"))

    # -- models, uploads, stakes ------------------------------------------------------------
    models = napi.get_models()
    assert models == {"alpha": str(alice.models["alpha"]), "beta": str(alice.models["beta"])}
    signal = live.data.skill_signal(1)
    submission_ids = {}
    for i, (name, model_id) in enumerate(sorted(models.items())):
        frame = pd.DataFrame(
            {"id": live_data.index, "prediction": skilled(signal, 0.5 + i, seed=i)}
        )
        submission_ids[name] = napi.upload_predictions(df=frame, model_id=model_id)
    stored = {str(s.id) for s in t.submissions()}
    assert set(submission_ids.values()) == stored
    bad = pd.DataFrame({"id": live_data.index[:5], "prediction": [0.1, 0.2, 0.3, 0.4, 0.5]})
    with pytest.raises(ValueError, match="invalid_submission"):
        napi.upload_predictions(df=bad, model_id=models["alpha"])
    names = napi.get_submission_filenames(model_id=models["alpha"])
    assert names == [{"round_num": 1, "tournament": 8, "filename": "predictions.csv"}]

    increase = napi.stake_increase(25, models["alpha"])
    assert increase["requestedAmount"] == Decimal(25) and increase["type"] == "increase"
    napi.stake_set("10.25", models["beta"])  # from nothing: increases by 10.25
    assert napi.stake_get("beta") == Decimal("10.25")
    decrease = napi.stake_decrease("0.25", models["beta"])  # no round at risk yet: at once
    assert decrease["status"] == "released" and decrease["dueDate"] is None
    assert napi.stake_get("alpha") == Decimal(25)
    assert napi.stake_get("beta") == Decimal(10)
    account = napi.get_account()
    assert account["availableNmr"] == Decimal(65)
    assert account["insertedAt"].tzinfo is not None
    with pytest.raises(ValueError, match="insufficient_funds"):
        napi.stake_increase("65.000000000000000001", models["alpha"])

    # -- diagnostics on the round's validation data ----------------------------------------
    validation = live.data.validation()
    val_frame = pd.DataFrame(
        {"id": validation.index, "prediction": skilled(live.data.validation_signal(), 1.0, 9)}
    )
    # queued at once, scored by the server's job runner; numerapi polls the status
    diagnostics_id = napi.upload_diagnostics(df=val_frame, model_id=models["alpha"])
    report = await_diagnostics(napi, models["alpha"], diagnostics_id)
    assert report["status"] == "succeeded" and report["erasAcceptedCount"] == 3
    assert len(report["perEraDiagnostics"]) == 3 and report["validationCorrMean"] > 0

    # -- the tournament moves on ------------------------------------------------------------
    live.advance(timedelta(days=7))  # round 1 closes with both stakes at risk, round 2 opens
    assert napi.get_current_round() == 2
    pending = napi.stake_decrease(5, models["alpha"])
    assert pending["status"] == "pending" and pending["dueDate"] == t.round(1).resolves_at
    payouts = napi.pending_model_payouts()
    assert {p["modelName"] for p in payouts["pending"]} == {"alpha", "beta"}
    live.advance(timedelta(days=28))  # round 1 resolves
    assert t.round(1).state == "resolved"

    # -- scores and payouts, read through numerapi ------------------------------------------
    for name, model_id in models.items():
        scores = napi.submission_scores(model_id, display_name="v2_corr20")
        assert len(scores) == 1 and scores[0]["roundNumber"] == 1
        assert scores[0]["resolved"] is True
        assert scores[0]["submissionId"] == submission_ids[name]
        expected = t.scores(model_id=int(model_id), round_number=1)[0]
        assert scores[0]["value"] == pytest.approx(expected.corr)
        assert scores[0]["roundResolveTime"].tzinfo is not None

    payouts = napi.pending_model_payouts()
    assert payouts["pending"] == []
    actual = {p["modelName"]: p for p in payouts["actual"]}
    for name in ("alpha", "beta"):
        paid = t.payouts(model_id=alice.models[name], round_number=1)[0]
        assert actual[name]["payoutNmr"] == Decimal(format_nmr(paid.amount))
        assert actual[name]["roundResolveTime"].tzinfo is not None
    with pytest.warns(DeprecationWarning):
        performances = napi.round_model_performances_v2(models["alpha"])
    resolved = next(p for p in performances if p["roundNumber"] == 1)
    assert resolved["atRisk"] == Decimal(25) and resolved["roundResolved"] is True
    # the pending release of 5 NMR came back when round 1 resolved
    alpha_paid = t.payouts(model_id=alice.models["alpha"], round_number=1)[0].amount
    assert napi.stake_get("alpha") == Decimal(format_nmr(nmr(20) + alpha_paid))
    board = napi.get_leaderboard()
    assert {row["username"] for row in board} == {"alpha", "beta"}
    assert all(isinstance(row["nmrStaked"], Decimal) for row in board)
    daily = napi.daily_model_performances("alpha")
    assert len(daily) == 1 and daily[0]["date"].tzinfo is not None

    # -- refusals come back as ValueError with the server's message -------------------------
    stranger = numerapi.NumerAPI(alice.public_id, "wrong-secret", show_progress_bars=False)
    with pytest.raises(ValueError, match="authentication_failed: wrong API key"):
        stranger.get_models()
    bob = add_participant(t, "bob", ("gamma",))
    bobs = numerapi.NumerAPI(bob.public_id, bob.secret, show_progress_bars=False)
    with pytest.raises(ValueError, match=r"permission_denied: .*belongs to another account"):
        bobs.stake_increase(1, models["alpha"])
