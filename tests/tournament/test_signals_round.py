"""Signals on the core: whole rounds played on a moved clock, over the market Classic reads.

The rounds are built from a simulated market (150 stocks, about 140 in the Signals
universe) by the real Signals pipeline; the models are a skilled one (the market's hidden
alpha), a steady one (the same signal every week), a churner (a fresh random signal every
week) and one that skips a week. Classic runs beside it on the same market.
"""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from tests.tournament.test_pipeline import CONFIG as CLASSIC_BUILD
from tests.tournament.test_pipeline import KEY, SCHEDULE

from crowdalpha.dataset.features import era_dates
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals import SignalsConfig, signals_outcome
from crowdalpha.ledger import NMR, TREASURY, nmr
from crowdalpha.market import MarketConfig, SimulatedMarket, simulate_market
from crowdalpha.payouts import payout_factor, weighted_payout
from crowdalpha.scoring.metrics import numerai_corr
from crowdalpha.scoring.neutral import alpha
from crowdalpha.scoring.signals import clean_submission
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import (
    SIGNALS,
    ManualClock,
    PipelineRoundData,
    Tournament,
    TournamentConfig,
)
from crowdalpha.tournament.signals import plug_signals
from crowdalpha.tournament.signals_source import SignalsRoundData

WEEK = timedelta(days=7)
#: Four validation eras and eight train eras: a small but complete Signals round.
SIGNALS_BUILD = SignalsConfig(validation_eras=4, max_train_eras=8)


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return simulate_market(MarketConfig(n_stocks=150, n_days=460, seed=11, alpha_strength=0.1))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built rounds are kept between the tests of this module (they read them back)."""
    return tmp_path_factory.mktemp("signals-rounds")


def make(
    engine: Engine, root: Path, files: Path, market: SimulatedMarket, clock: ManualClock
) -> Tournament:
    first_live = pd.Timestamp(era_dates(market.prices)[72])
    data = PipelineRoundData(
        market.prices,
        workdir=root / "pipeline",
        first_live=first_live,
        config=CLASSIC_BUILD,
        vault=Vault(KEY),
        schedule=SCHEDULE,
    )
    source = SignalsRoundData(data, workdir=root / "signals", config=SIGNALS_BUILD)
    signals = plug_signals(SIGNALS.configured(schedule=SCHEDULE), source)
    config = TournamentConfig(schedule=SCHEDULE, competitions=(signals,))
    t = Tournament(engine, LocalFileStore(files), data, config=config, clock=clock)
    t.mint(nmr(200_000), to=TREASURY)
    return t


def csv(column: str, ids: list[str], values: np.ndarray) -> bytes:
    return pd.DataFrame({column: ids, "signal": values}).to_csv(index=False).encode()


def hidden_alpha(market: SimulatedMarket, tickers: list[str], day: pd.Timestamp) -> np.ndarray:
    """The market's latent alpha at ``day`` for numerai tickers (``"TICKER CC"``)."""
    known = market.alpha[market.alpha["date"] <= day]
    latest = known[known["date"] == known["date"].max()].set_index("ticker")["alpha"]
    raw = latest.reindex([t.split(" ")[0] for t in tickers]).fillna(0.0).to_numpy()
    return (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)


def test_a_signals_round_plays_to_resolution(
    engine: Engine, folder: Path, tmp_path: Path, market: SimulatedMarket
) -> None:
    clock = ManualClock(SCHEDULE.anchor - timedelta(hours=1))
    classic = make(engine, folder, tmp_path / "files", market, clock)
    t = classic.using("signals")
    source = t.competition.source
    assert isinstance(source, SignalsRoundData)
    ann = t.create_account("ann", "ann@example.org")
    t.grant(ann.id, nmr(60_000))
    skilled, steady, churner, skipper = (
        t.create_model(ann.id, n).id for n in ("skilled", "steady", "churner", "skipper")
    )
    t.increase_stake(steady, nmr(40_000))  # past Signals' 36,000 NMR threshold
    for model in (skilled, churner, skipper):
        t.increase_stake(model, nmr(1_000))
    fixed = np.random.default_rng(0).uniform(size=1_000)

    def submit_round(number: int, models: list[int]) -> None:
        ids = t.live_ids(number)
        day = source.live_date(number)
        assert day is not None
        universe = source.universe(number).set_index("numerai_ticker")
        values = {
            skilled: hidden_alpha(market, ids, day),
            steady: fixed[[int(i[3:7]) for i in ids]],  # the same value per stock every week
            churner: np.random.default_rng(number).uniform(size=len(ids)),
            skipper: np.random.default_rng(100 + number).uniform(size=len(ids)),
        }
        for model in models:
            if model == steady:  # keyed by another id type: mapped through the universe
                figis = universe["composite_figi"].reindex(ids).tolist()
                t.submit(model, csv("composite_figi", figis, values[model]))
            else:
                t.submit(model, csv("numerai_ticker", ids, values[model]))

    clock.advance(timedelta(hours=1))
    report = t.tick()
    assert report.opened == [1] and report.by_competition["classic"].opened == [1]
    submit_round(1, [skilled, steady, churner, skipper])
    clock.advance(WEEK)
    assert t.tick().closed == [1]
    # Nothing to compare a first submission with: max churn and turnover 1.0, stake zero.
    assert all(v == 0 for m in (skilled, steady) for v in t.stakes_at_risk(m).values())
    submit_round(2, [skilled, steady, churner])  # the skipper skips round 2
    clock.advance(WEEK)
    assert t.tick().closed == [2]
    submit_round(3, [skilled, steady, churner, skipper])
    clock.advance(WEEK)
    assert t.tick().closed == [3]

    gate = {s.model_id: s for s in t.scores(round_number=2)}
    assert gate[steady].get("churn") == pytest.approx(0.0, abs=1e-9)
    assert (gate[steady].get("turnover") or 1.0) < 0.25
    assert (gate[churner].get("churn") or 0.0) >= 0.15
    assert t.stakes_at_risk(steady)[2] == nmr(40_000)
    assert t.stakes_at_risk(churner)[2] == 0  # churn over 15 %
    assert t.stakes_at_risk(skipper).get(2, 0) == 0  # no submission
    assert t.stakes_at_risk(skipper)[3] == 0  # skipped the week before
    skilled_at_risk = t.stakes_at_risk(skilled)[2]
    skilled_gate = gate[skilled]
    passed = (skilled_gate.get("churn") or 1) < 0.15 and (skilled_gate.get("turnover") or 1) < 0.25
    assert skilled_at_risk == (nmr(1_000) if passed else 0)

    # -- resolution of round 2 ----------------------------------------------------------
    before = {m: t.stake_info(m).stake for m in (skilled, steady, churner, skipper)}
    clock.set(t.round(2).resolves_at)
    report = t.tick()
    assert 2 in [r.round_number for r in report.resolved]
    assert 2 in [r.round_number for r in report.by_competition["classic"].resolved]
    scores = {s.model_id: s for s in t.scores(round_number=2)}
    assert set(scores[steady].values) == {"corr", "fnc", "mmc", "alpha", "mpc", "churn", "turnover"}
    assert all(scores[m].final for m in scores)

    # The stored scores are the reference functions on the cleaned submission.
    day = source.live_date(2)
    outcome = signals_outcome(market.prices, day, vault=Vault(KEY), config=SIGNALS_BUILD)
    assert outcome is not None and outcome.final
    ids = t.live_ids(2)
    universe = outcome.sample_weights.index.to_frame()
    sub = pd.DataFrame({"numerai_ticker": ids, "signal": hidden_alpha(market, ids, day)})
    clean = clean_submission(universe, sub, "numerai_ticker", "signal", rank_and_fill=True)
    target = outcome.targets["target"].dropna()
    clean = clean.reindex(target.index)
    assert scores[skilled].get("corr") == pytest.approx(
        float(numerai_corr(clean.to_frame("s"), target)["s"]), abs=1e-12
    )
    expected_alpha = alpha(
        clean.to_frame("s"), outcome.neutralizers, outcome.sample_weights, target
    )["s"]
    assert scores[skilled].get("alpha") == pytest.approx(float(expected_alpha), abs=1e-12)
    assert (scores[skilled].get("corr") or 0) > (scores[churner].get("corr") or 0) - 0.2

    # Payouts and burns with Signals' parameters: 0.3 × ALPHA + 0.8 × MPC, clip 0.017, and a
    # payout factor on 36,000 NMR.
    round2 = t.round(2)
    total = sum(t.stakes_at_risk(m).get(2, 0) for m in (skilled, steady, churner, skipper))
    assert round2.total_at_risk == total
    factor = payout_factor(36_000 * NMR, total)
    assert factor == Decimal(36_000) / Decimal(40_000 + (1_000 if passed else 0)) < 1
    paid = {p.model_id: p.amount for p in t.payouts(round_number=2)}
    for model in (skilled, steady):
        at_risk = t.stakes_at_risk(model)[2]
        s = scores[model]
        expected = weighted_payout(
            at_risk,
            {"alpha": s.get("alpha") or 0.0, "mpc": s.get("mpc") or 0.0},
            {"alpha": "0.3", "mpc": "0.8"},
            factor=factor,
            clip="0.017",
        )
        assert paid.get(model, 0) == expected
        assert abs(expected) <= at_risk * Decimal("0.017")
        assert t.stake_info(model).stake == before[model] + expected
    for model in (churner, skipper):  # nothing at risk: nothing paid, nothing burned
        assert paid.get(model, 0) == 0
        assert t.stake_info(model).stake == before[model]
    assert {r.model_id for r in t.leaderboard()} == {skilled, steady, churner, skipper}
    assert len(t.meta_model(2)) == len(ids)
    assert t.check_ledger().ok
    assert [m.id for m in classic.models()] == []  # nothing of Signals shows in Classic


def test_signals_uploads_refused_at_the_core_store_nothing(
    engine: Engine, folder: Path, tmp_path: Path, market: SimulatedMarket
) -> None:
    from crowdalpha.errors import SubmissionError

    clock = ManualClock(SCHEDULE.anchor + timedelta(hours=1))
    t = make(engine, folder, tmp_path / "files", market, clock).using("signals")
    t.tick()
    bob = t.create_account("bob", "bob@example.org")
    model = t.create_model(bob.id, "bob_signals").id
    classic_model = t.using("classic").create_model(bob.id, "bob_classic").id
    ids = t.live_ids(1)
    universe = t.competition.source.universe(1).set_index("numerai_ticker")  # type: ignore[union-attr]
    values = np.linspace(0.01, 0.99, len(ids))
    figis = universe["composite_figi"].reindex(ids).tolist()
    classic_ids = t.using("classic").live_ids(1)

    def parquet(frame: pd.DataFrame) -> bytes:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()

    cases: list[tuple[str, int, bytes, str]] = [
        # a Classic file to Signals, and a Signals file to Classic
        (
            "classic file",
            model,
            pd.DataFrame({"id": classic_ids, "prediction": 0.5}).to_csv(index=False).encode(),
            "invalid_headers",
        ),
        ("signals file", classic_model, csv("numerai_ticker", ids, values), "invalid_headers"),
        ("ticker column", model, csv("isin", ids, values), "unexpected_columns"),
        ("99 tickers", model, csv("numerai_ticker", ids[:99], values[:99]), "not_enough_tickers"),
        (
            "a ticker twice",
            model,
            parquet(pd.DataFrame({"numerai_ticker": [*ids, ids[0]], "signal": [*values, 0.5]})),
            "duplicate_ids",
        ),
        (
            "one stock under two id types",
            model,
            csv("numerai_ticker", [*ids, figis[0]], np.append(values, 0.5)),
            "ticker_sent_twice",
        ),
        (
            "several dates",
            model,
            pd.DataFrame(
                {
                    "numerai_ticker": ids,
                    "signal": values,
                    "date": ["2026-01-02"] * (len(ids) - 1) + ["2026-01-09"],
                }
            )
            .to_csv(index=False)
            .encode(),
            "several_dates",
        ),
    ]
    codes: dict[str, str] = {}
    for name, who, data, reason in cases:
        with pytest.raises(SubmissionError) as caught:
            t.submit(who, data)
        assert caught.value.details.get("reason") == reason, (name, caught.value)
        assert caught.value.code.startswith("invalid_submission_"), name  # numerai-tools'
        codes[name] = caught.value.code
    assert t.submissions() == [] and t.using("classic").submissions() == []
    stored = list(t.store.keys("signals/submissions/")) + list(t.store.keys("submissions/"))
    assert stored == []
    assert codes["99 tickers"] == "invalid_submission_ids"
    assert codes["several dates"] == "invalid_submission_dates"
    assert codes["classic file"] == codes["signals file"] == "invalid_submission_headers"
    ok = t.submit(model, csv("composite_figi", figis, values))
    assert ok.rows == len(ids) and ok.unknown_ids == 0


def test_signals_diagnostics_score_a_dated_upload_over_the_validation_dates(
    engine: Engine, folder: Path, tmp_path: Path, market: SimulatedMarket
) -> None:
    from crowdalpha.errors import SubmissionError
    from crowdalpha.tournament.signals_diagnostics import signals_diagnostics

    clock = ManualClock(SCHEDULE.anchor + timedelta(hours=1))
    t = make(engine, folder, tmp_path / "files", market, clock).using("signals")
    t.tick()
    validation = pd.read_parquet(
        io.BytesIO(t.store.get(t.dataset_key(1, "signals/v2.0/validation.parquet")))
    )
    dates = sorted(validation["date"].unique())
    assert len(dates) == SIGNALS_BUILD.validation_eras
    # A momentum signal on every validation date, keyed by FIGI, and one date that is not
    # a validation date (left out).
    rows = validation[["date", "composite_figi", "feature_momentum_12w_factor"]].dropna()
    upload = rows.rename(columns={"feature_momentum_12w_factor": "signal"})
    upload["signal"] = upload.groupby("date")["signal"].rank(pct=True)
    extra = upload[upload["date"] == dates[0]].assign(date=pd.Timestamp("2001-01-05"))
    upload = pd.concat([upload, extra], ignore_index=True)
    upload["date"] = upload["date"].dt.strftime("%Y-%m-%d")
    result = signals_diagnostics(
        t, 1, upload.to_csv(index=False).encode(), filename="diag.csv", model_id=1
    )
    assert result["eras_accepted_count"] == len(dates)
    assert "1 date(s) outside the validation period" in result["message"]
    assert [r["era"] for r in result["per_era"]] == [f"{d:%Y-%m-%d}" for d in dates]
    # Each date's CORR is numerai_corr of the cleaned signal on that date's main target.
    first = validation[validation["date"] == dates[0]].set_index("numerai_ticker")
    sent = rows[rows["date"] == dates[0]].set_index("composite_figi")["feature_momentum_12w_factor"]
    figi_to_ticker = first.reset_index().set_index("composite_figi")["numerai_ticker"]
    signal = sent.rank(pct=True).rename(index=figi_to_ticker).to_frame("s")
    universe = first.index.to_frame()
    clean = clean_submission(
        universe,
        signal.reset_index(names="numerai_ticker"),
        "numerai_ticker",
        "s",
        rank_and_fill=True,
    )
    target = first["target"].dropna().astype(np.float64)
    expected = float(numerai_corr(clean.reindex(target.index).to_frame("s"), target)["s"])
    assert result["per_era"][0]["validation_corr"] == pytest.approx(expected, abs=1e-6)
    assert result["per_era"][0]["validation_alpha"] is not None
    assert set(result["summary"]) >= {"corr_mean", "fnc_sharpe", "alpha_mean"}

    with pytest.raises(SubmissionError) as caught:  # no date column
        signals_diagnostics(
            t,
            1,
            csv("numerai_ticker", t.live_ids(1), np.linspace(0, 1, len(t.live_ids(1)))),
            filename="x.csv",
            model_id=1,
        )
    assert caught.value.details["reason"] == "missing_date_column"
    thin = upload[upload["date"] == f"{dates[0]:%Y-%m-%d}"].head(99)
    with pytest.raises(SubmissionError) as caught:  # 99 tickers on a date
        signals_diagnostics(t, 1, thin.to_csv(index=False).encode(), filename="x.csv", model_id=1)
    assert caught.value.details["reason"] == "not_enough_tickers"
