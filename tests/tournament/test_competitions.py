"""Competitions as data: Classic and Signals are records, several run on one core, and each
round keeps the configuration it opened with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import FrozenInstanceError, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.errors import InvalidParameterError, NotFoundError
from crowdalpha.ledger import NMR, TREASURY, nmr
from crowdalpha.payouts import PayoutRules, payout_factor, tiered_payout, weighted_payout
from crowdalpha.scoring.metrics import RoundScores
from crowdalpha.storage import LocalFileStore
from crowdalpha.submissions import LiveIds, ValidatedSubmission
from crowdalpha.tournament import (
    CLASSIC,
    SIGNALS,
    ManualClock,
    Outcome,
    PublishedDataset,
    RoundConfig,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
    competition,
)
from crowdalpha.tournament.classic import classic_rules, classic_scorer

WEEK = timedelta(days=7)


def test_classic_and_signals_are_records_with_numerai_s_parameters() -> None:
    assert (CLASSIC.id, CLASSIC.slug, SIGNALS.id, SIGNALS.slug) == (8, "classic", 11, "signals")
    assert competition(11) is SIGNALS and competition("classic") is CLASSIC
    assert competition("8") is CLASSIC
    with pytest.raises(InvalidParameterError, match="no competition 'crypto'"):
        competition("crypto")
    assert CLASSIC.runnable is False  # its source is the operator's: plugged by the facade
    assert CLASSIC.missing() == ["source"]
    assert SIGNALS.missing() == ["source", "rules", "scorer", "gate"]
    config = SIGNALS.round_config
    assert dict(config.gate_thresholds) == {"churn": "0.15", "turnover": "0.25"}
    assert config.threshold == 36_000 * NMR and config.clip == "0.017"
    assert dict(config.multipliers) == {"alpha": "0.3", "mpc": "0.8"}
    assert config.require_previous and config.paid_metrics == ("alpha", "mpc")
    assert SIGNALS.layout.folder == "signals/v2.0" and "signals/v1.0" in SIGNALS.layout.aliases
    assert SIGNALS.ledger_key(3, "payouts") == "signals:round:3:payouts"
    assert CLASSIC.ledger_key(3, "payouts") == "round:3:payouts"  # as before competitions
    with pytest.raises(FrozenInstanceError):
        SIGNALS.slug = "other"  # type: ignore[misc]


def test_a_round_config_round_trips_and_refuses_nonsense() -> None:
    config = SIGNALS.round_config
    assert RoundConfig.from_json(config.to_json()) == config
    classic = RoundConfig.from_rules(PayoutRules(policy="tiered"), ("corr", "mmc"))
    assert RoundConfig.from_json(classic.to_json()) == classic
    assert classic.paid_metrics == ("corr",)
    with pytest.raises(InvalidParameterError, match="not computed"):
        RoundConfig(metrics=("corr",), multipliers=(("corr", "1"), ("mmc", "2")))
    with pytest.raises(InvalidParameterError, match="decimal"):
        RoundConfig(metrics=("corr",), multipliers=(("corr", "lots"),))
    with pytest.raises(InvalidParameterError, match="policy"):
        RoundConfig(metrics=("corr",), policy="lottery")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="distinct"):
        RoundConfig(metrics=("corr", "corr"))


def test_an_unplugged_competition_cannot_be_enabled() -> None:
    with pytest.raises(InvalidParameterError, match="plug in its source, rules, scorer, gate"):
        TournamentConfig(competitions=(SIGNALS,))
    with pytest.raises(InvalidParameterError, match="runs once"):
        TournamentConfig(competitions=(CLASSIC.plug(source=SyntheticRoundData()),))


# -- a second competition on the same core -------------------------------------------------


def _scorer(
    predictions: pd.DataFrame, outcome: Outcome, stakes: pd.Series, config: RoundConfig
) -> RoundScores:
    """Classic's scores, with ALPHA and MPC standing in as CORR and MMC (what the payout of
    the second competition reads; the Signals scorer is plugged in later)."""
    classic = replace(CLASSIC.round_config, metrics=("corr", "mmc"))
    base = classic_scorer(predictions, outcome, stakes, classic)
    scores = base.scores.assign(alpha=base.scores["corr"], mpc=base.scores["mmc"], fnc=np.nan)
    return RoundScores(scores=scores[list(config.metrics)], meta_model=base.meta_model)


class _Gate:
    """Churn 0.9 for the models named, 0.01 for the rest (turnover 0 throughout)."""

    def __init__(self, churners: set[int]) -> None:
        self.churners = churners
        self.calls: list[tuple[int, int, list[int]]] = []

    def __call__(
        self,
        number: int,
        model_id: int,
        current: pd.Series,
        history: Sequence[tuple[int, pd.Series]],
    ) -> Mapping[str, float]:
        assert all(len(values) == len(current) for _, values in history)
        self.calls.append((number, model_id, [n for n, _ in history]))
        return {"churn": 0.9 if model_id in self.churners else 0.01, "turnover": 0.0}


class _WithUniverse(SyntheticRoundData):
    """Synthetic rounds that also publish a universe frame (live ids and a second id type)."""

    def publish(self, number: int, opens_at: datetime) -> PublishedDataset:
        published = super().publish(number, opens_at)
        ids = pd.Index(list(published.live_ids), name="numerai_ticker")
        figi = [f"BBG{i:09d}" for i in range(len(ids))]
        return replace(published, universe=pd.DataFrame({"composite_figi": figi}, index=ids))


#: What the second competition's rules were handed, upload by upload.
_SEEN: list[object] = []


def _rules(data: bytes, universe: LiveIds, *, filename: str, max_bytes: int) -> ValidatedSubmission:
    _SEEN.append(universe)
    live = universe.index if isinstance(universe, pd.DataFrame) else universe
    return classic_rules(data, live, filename=filename, max_bytes=max_bytes)


@pytest.fixture
def two(
    engine: Engine, tmp_path: Path, clock: ManualClock, data: SyntheticRoundData
) -> tuple[Tournament, Tournament, SyntheticRoundData, _Gate]:
    other = _WithUniverse(seed=99, rows=200)
    gate = _Gate(set())
    _SEEN.clear()
    signals = SIGNALS.plug(source=other, rules=_rules, scorer=_scorer, gate=gate)
    t = Tournament(
        engine,
        LocalFileStore(tmp_path / "files"),
        data,
        config=TournamentConfig(competitions=(signals,)),
        clock=clock,
    )
    t.mint(nmr(100_000), to=TREASURY)
    return t, t.using("signals"), other, gate


def test_two_competitions_share_accounts_and_wallets_but_nothing_else(
    two: tuple[Tournament, Tournament, SyntheticRoundData, _Gate],
    clock: ManualClock,
    data: SyntheticRoundData,
    tmp_path: Path,
) -> None:
    classic, signals, other, gate = two
    assert [c.slug for c in classic.competitions] == ["classic", "signals"]
    assert signals.using(8).competition.slug == "classic" and signals.using(11) is signals
    alice = classic.create_account("alice", "alice@example.org")
    classic.grant(alice.id, nmr(1_000))
    mine = classic.create_model(alice.id, "alice_classic")
    theirs = signals.create_model(alice.id, "alice_signals")
    assert (mine.competition, theirs.competition) == ("classic", "signals")
    assert [m.id for m in classic.models()] == [mine.id]
    assert [m.id for m in signals.models(alice.id)] == [theirs.id]
    with pytest.raises(Exception, match="already exists"):
        signals.create_model(alice.id, "alice_classic")  # names are platform-wide
    classic.increase_stake(mine.id, nmr(100))
    classic.increase_stake(theirs.id, nmr(50))  # one wallet for both competitions
    assert signals.wallet_balance(alice.id) == nmr(850)

    clock.advance(timedelta(hours=1))
    report = signals.tick()
    assert report.competition == "signals" and report.opened == [1]
    assert report.by_competition["classic"].opened == [1]
    assert classic.round(1).competition == "classic" and signals.round(1).competition == "signals"
    assert signals.round(1).config == SIGNALS.round_config
    assert len(signals.live_ids(1)) == other.rows and len(classic.live_ids(1)) == data.rows
    names = {f.name for f in signals.dataset_files(1)}
    assert "live.parquet" in names
    assert all(f.key.startswith("signals/datasets/") for f in signals.dataset_files(1))
    assert (tmp_path / "files" / "signals" / "rounds" / "00001" / "live_ids.json").exists()

    # a model submits to its own competition's round, whichever view is asked
    ids = signals.live_ids(1)
    sub = classic.submit(theirs.id, predictions_csv(ids, skilled(other, 1, 0.3, seed=1)))
    assert sub.round_number == 1 and signals.submissions(round_number=1) == [sub]
    # the rules saw the round's universe as published, index and all
    [universe] = _SEEN
    assert isinstance(universe, pd.DataFrame) and universe.index.name == "numerai_ticker"
    assert list(universe.index) == ids and universe["composite_figi"].iloc[0] == "BBG000000000"
    assert classic.submissions() == []
    classic.submit(mine.id, predictions_csv(classic.live_ids(1), skilled(data, 1, 0.3, 2)))

    clock.advance(WEEK)
    classic.tick()
    assert gate.calls == [(1, theirs.id, [])]  # measured at the close, no history yet
    assert signals.stakes_at_risk(theirs.id) == {1: nmr(50)}
    assert classic.stakes_at_risk(mine.id) == {1: nmr(100)}
    gate_scores = signals.scores(round_number=1)
    assert gate_scores[0].get("churn") == pytest.approx(0.01) and gate_scores[0].final

    clock.set(signals.round(1).resolves_at)
    report = classic.tick()
    resolved = {
        s: [r.round_number for r in rep.resolved] for s, rep in report.by_competition.items()
    }
    assert resolved == {"classic": [1], "signals": [1]}
    [paid] = signals.payouts(round_number=1)
    score = next(s for s in signals.scores(round_number=1) if s.model_id == theirs.id)
    assert set(score.values) == {"corr", "fnc", "mmc", "alpha", "mpc", "churn", "turnover"}
    assert score.get("fnc") is None and score.final
    factor = payout_factor(SIGNALS.round_config.threshold, nmr(50))
    expected = weighted_payout(
        nmr(50),
        {"alpha": score.get("alpha") or 0.0, "mpc": score.get("mpc") or 0.0},
        {"alpha": "0.3", "mpc": "0.8"},
        factor=factor,
        clip="0.017",
    )
    assert paid.amount == expected and abs(expected) <= nmr(50) * Decimal("0.017")
    entry = signals.ledger_history(f"stake:{theirs.id}", limit=1)[0]
    assert entry.idempotency_key in ("signals:round:1:payouts", "signals:round:1:burns")
    assert {r.model_id for r in signals.leaderboard()} == {theirs.id}
    assert {r.model_id for r in classic.leaderboard()} == {mine.id}
    assert len(signals.meta_model(1)) == other.rows
    assert classic.check_ledger().ok


def test_the_stake_gate_and_a_missed_round_zero_the_stake(
    two: tuple[Tournament, Tournament, SyntheticRoundData, _Gate], clock: ManualClock
) -> None:
    _classic, signals, other, gate = two
    bob = signals.create_account("bob", "bob@example.org")
    signals.grant(bob.id, nmr(1_000))
    steady, churner, skipper = (
        signals.create_model(bob.id, name).id for name in ("steady", "churner", "skipper")
    )
    for m in (steady, churner, skipper):
        signals.increase_stake(m, nmr(100))

    def submit_all(number: int, models: list[int]) -> None:
        ids = signals.live_ids(number)
        for i, m in enumerate(models):
            signals.submit(m, predictions_csv(ids, skilled(other, number, 0.5, seed=10 * m + i)))

    gate.churners = {churner}

    clock.advance(timedelta(hours=1))
    signals.tick()
    submit_all(1, [steady, churner])  # the skipper sits round 1 out
    clock.advance(WEEK)
    signals.tick()
    submit_all(2, [steady, churner, skipper])
    clock.advance(WEEK)
    signals.tick()

    at_risk = {m: signals.stakes_at_risk(m) for m in (steady, churner, skipper)}
    assert at_risk[steady] == {1: nmr(100), 2: nmr(100)}
    assert at_risk[churner] == {1: 0, 2: 0}  # churn 0.9 ≥ 0.15
    assert at_risk[skipper] == {1: 0, 2: 0}  # no file in round 1: no stake in round 2
    assert signals.round(2).total_at_risk == nmr(100)
    # the skipper's stake was zeroed before the gate measured it; the others against round 1
    assert [(m, h) for n, m, h in gate.calls if n == 2] == [(steady, [1]), (churner, [1])]
    churn = {s.model_id: s.get("churn") for s in signals.scores(round_number=2)}
    assert churn == {steady: pytest.approx(0.01), churner: pytest.approx(0.9)}


def test_each_round_keeps_the_rules_it_opened_with(
    engine: Engine, tmp_path: Path, clock: ManualClock, data: SyntheticRoundData
) -> None:
    store = LocalFileStore(tmp_path / "files")
    first = Tournament(engine, store, data, clock=clock)
    first.mint(nmr(10_000), to=TREASURY)
    carol = first.create_account("carol", "carol@example.org")
    first.grant(carol.id, nmr(500))
    model = first.create_model(carol.id, "carol_1").id
    first.increase_stake(model, nmr(100))
    clock.advance(timedelta(hours=1))
    first.tick()
    first.submit(model, predictions_csv(first.live_ids(1), skilled(data, 1, 0.3, seed=5)))
    first.close()

    # the operator switches to the tiered policy: from round 2 on
    tiered = TournamentConfig(payout=PayoutRules(policy="tiered"))
    t = Tournament(engine, store, data, config=tiered, clock=clock)
    clock.advance(WEEK)
    t.tick()
    assert (t.round(1).config.policy, t.round(2).config.policy) == ("numerai", "tiered")
    t.submit(model, predictions_csv(t.live_ids(2), skilled(data, 2, 0.3, seed=6)))
    clock.advance(WEEK)
    t.tick()
    clock.set(t.round(2).resolves_at)
    t.tick()
    paid = {p.round_number: p.amount for p in t.payouts(model_id=model)}
    scores = {s.round_number: s for s in t.scores(model_id=model)}
    numerai = weighted_payout(
        nmr(100),
        {"corr": scores[1].corr or 0.0, "mmc": scores[1].mmc or 0.0},
        {"corr": "0.5", "mmc": "2.0"},
        factor=Decimal(1),
        clip="0.05",
    )
    assert paid[1] == numerai  # round 1: the numerai policy it opened with
    assert paid[2] == tiered_payout(nmr(100), scores[2].corr or 0.0)  # round 2: tiered
    assert t.check_ledger().ok


def test_a_view_of_a_competition_the_tournament_does_not_run_is_refused(
    tournament: Tournament,
) -> None:
    with pytest.raises(InvalidParameterError, match="does not run Signals"):
        tournament.using("signals")
    with pytest.raises(NotFoundError):
        tournament.round(1)
