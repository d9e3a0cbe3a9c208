"""A small Signals competition for the interface tests: a fixed universe of tickers with
two id types and public files in Numerai's Signals layout (what
:class:`~crowdalpha.tournament.signals_source.SignalsRoundData` publishes, without building
it from a market), plugged with the core's own rules, scorer and stake gate
(:func:`~crowdalpha.tournament.signals.plug_signals`), so numerapi's ``SignalsAPI``, the
REST API, the client, the CLI and the web UI run against a tournament with Classic and
Signals in seconds.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from tests.server.graphql_support import ROWS, SEED, ValidatingRoundData

from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import (
    SIGNALS,
    Competition,
    ManualClock,
    Outcome,
    PublishedDataset,
    Tournament,
    TournamentConfig,
)
from crowdalpha.tournament.signals import plug_signals

TICKERS = 160
FEATURES = ("feature_momentum_12w_factor", "feature_value_factor", "feature_volatility_factor")
VALIDATION_DATES = ("2024-01-05", "2024-01-12", "2024-01-19")
_BINS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_EDGES = np.array([0.05, 0.25, 0.75, 0.95])


def _binned(raw: np.ndarray) -> np.ndarray:
    ranks = (pd.Series(raw).rank(method="first").to_numpy() - 0.5) / len(raw)
    return _BINS[np.searchsorted(_EDGES, ranks, side="right")]


class SignalsData:
    """Rounds of a fixed universe of ``TICKERS`` stocks (``numerai_ticker`` "T000 US" and a
    ``composite_figi``), with public features, a hidden skill signal and five-bin targets:
    provisional a week after the close, final four weeks after it."""

    def __init__(self, seed: int = 5, *, resolution_delay: timedelta = timedelta(days=28)):
        self.seed = seed
        self.resolution_delay = resolution_delay
        self.provisional_after = timedelta(days=7)

    def _rng(self, key: object, salt: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}:{key}:{salt}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    @property
    def tickers(self) -> list[str]:
        return [f"T{i:03d} US" for i in range(TICKERS)]

    @property
    def figis(self) -> list[str]:
        return [f"BBG{i:09d}" for i in range(TICKERS)]

    def universe(self) -> pd.DataFrame:
        return pd.DataFrame({"numerai_ticker": self.tickers, "composite_figi": self.figis})

    def features(self, key: object) -> pd.DataFrame:
        values = self._rng(key, "features").random(size=(TICKERS, len(FEATURES)))
        return pd.DataFrame(
            values, index=pd.Index(self.tickers, name="numerai_ticker"), columns=list(FEATURES)
        )

    def skill_signal(self, key: object) -> pd.Series:
        """What a perfectly skilled model would predict on date ``key`` (a round number or
        a validation date)."""
        hidden = self._rng(key, "hidden").normal(size=TICKERS)
        return pd.Series(hidden, index=pd.Index(self.tickers, name="numerai_ticker"))

    def targets(self, key: object, extra: float = 0.0) -> pd.Series:
        signal = self.skill_signal(key).to_numpy()
        raw = 0.4 * signal + self._rng(key, "noise").normal(size=TICKERS)
        if extra:
            raw = raw + extra * self._rng(key, "provisional").normal(size=TICKERS)
        return pd.Series(_binned(raw), index=pd.Index(self.tickers, name="numerai_ticker"))

    def _frame(self, key: object, date: str) -> pd.DataFrame:
        frame = self.features(key).reset_index()
        frame.insert(0, "date", pd.Timestamp(date))
        frame.insert(2, "composite_figi", self.figis)
        return frame

    def validation(self) -> pd.DataFrame:
        frames = []
        for date in VALIDATION_DATES:
            frame = self._frame(date, date)
            frame["target"] = self.targets(date).to_numpy()
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _parquet(frame: pd.DataFrame) -> bytes:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()

    def publish(self, number: int, opens_at: datetime) -> PublishedDataset:
        date = (opens_at - timedelta(days=1)).strftime("%Y-%m-%d")
        live = self._frame(number, date)
        files = {
            "signals/v2.0/live.parquet": self._parquet(live),
            "signals/v2.0/validation.parquet": self._parquet(self.validation()),
            "signals/v1.0/live.parquet": self._parquet(
                live[["date", "numerai_ticker", "composite_figi"]]
            ),
        }
        return PublishedDataset(
            version=f"signals-{self.seed}-{number:04d}",
            live_ids=self.tickers,
            files=files,
            universe=self.universe(),
        )

    def outcome(
        self, number: int, live_ids: Sequence[str], *, closes_at: datetime, now: datetime
    ) -> Outcome | None:
        if now >= closes_at + self.resolution_delay:
            final, extra = True, 0.0
        elif now >= closes_at + self.provisional_after:
            final, extra = False, 1.0
        else:
            return None
        index = pd.Index(live_ids, name="numerai_ticker")
        neutralizers, weights = self.live_neutral_inputs(number)
        return Outcome(
            targets=self.targets(number, extra).reindex(index),
            final=final,
            features=self.features(number).reindex(index),
            extras={"neutralizers": neutralizers, "sample_weights": weights},
        )

    def live_neutral_inputs(self, number: int) -> tuple[pd.DataFrame, pd.Series]:
        """The round's neutralizers N (its centred features, orthonormalized) and sample
        weights v (equal), as the stake gate and Alpha/MPC read them."""
        features = self.features(number).to_numpy()
        q, _ = np.linalg.qr(features - features.mean(axis=0))
        index = pd.Index(self.tickers, name="numerai_ticker")
        return pd.DataFrame(q, index=index), pd.Series(1.0 / TICKERS, index=index)


def plugged_signals(data: SignalsData) -> Competition:
    """Signals with this source and the core's own rules, scorer and stake gate."""
    return plug_signals(SIGNALS, data)


def build_two(engine: Engine, home: Path, clock: ManualClock) -> tuple[Tournament, SignalsData]:
    """A tournament running Classic (validating synthetic rounds) and the Signals above."""
    signals = SignalsData()
    tournament = Tournament(
        engine,
        LocalFileStore(home / "files"),
        ValidatingRoundData(seed=SEED, rows=ROWS),
        config=TournamentConfig(competitions=(plugged_signals(signals),)),
        clock=clock,
    )
    tournament.mint(nmr(1_000_000), to=TREASURY)
    return tournament, signals


def signal_frame(
    data: SignalsData, key: object, noise: float, seed: int, *, column: str = "numerai_ticker"
) -> pd.DataFrame:
    """A submission of chosen skill: the hidden signal plus noise, as ranks in (0, 1)."""
    rng = np.random.default_rng(seed)
    raw = data.skill_signal(key).to_numpy() + noise * rng.normal(size=TICKERS)
    ids = data.tickers if column == "numerai_ticker" else data.figis
    values = (pd.Series(raw).rank().to_numpy() - 0.5) / TICKERS
    return pd.DataFrame({column: ids, "signal": values})
