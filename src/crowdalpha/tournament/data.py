"""Where a round's data comes from: the dataset published when it opens, and the outcome
(targets, and what FNC and BMC need) once the future is known.

The tournament asks a :class:`RoundData` source; it never computes data itself. Sources:
:class:`SyntheticRoundData` (generated, deterministic per seed and round — tests, the
economics simulator) and, for real operators, sources built on :mod:`crowdalpha.dataset`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
import pandas as pd

from crowdalpha.dataset.regimes import REGIMES

__all__ = ["Outcome", "PublishedDataset", "RoundData", "SyntheticRoundData"]

TARGET_BINS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_BIN_EDGES = np.array([0.05, 0.25, 0.75, 0.95])


@dataclass(frozen=True)
class PublishedDataset:
    """A round's public files (name → bytes) and its live ids, in the files' row order.

    ``universe``, when the competition accepts several id types (Signals: ``numerai_ticker``,
    ``composite_figi``…), has one row per live id and one column per id type, the live id
    column first; the core keeps it with the round and hands it to the submission rules.
    """

    version: str
    live_ids: Sequence[str]
    files: Mapping[str, bytes] = field(default_factory=dict)
    universe: pd.DataFrame | None = None


@dataclass(frozen=True)
class Outcome:
    """What is known about a round's live rows: final (resolve) or provisional (score).

    ``features`` (FNC) and ``benchmarks`` (BMC) serve Classic's scorer; ``extras`` carries
    whatever else a competition's scorer needs from its source, by name (Signals: other
    targets, neutralizers, sample weights). ``regime``: the market regime label of the live
    era over its target's window, when the source labels eras (recorded at resolution).
    """

    targets: pd.Series
    final: bool
    features: pd.DataFrame | None = None
    benchmarks: pd.DataFrame | None = None
    extras: Mapping[str, pd.Series | pd.DataFrame] = field(default_factory=dict)
    regime: str | None = None


class RoundData(Protocol):
    def publish(self, number: int, opens_at: datetime) -> PublishedDataset | None:
        """The dataset of round ``number``; ``None`` while its data are not available."""

    def outcome(
        self, number: int, live_ids: Sequence[str], *, closes_at: datetime, now: datetime
    ) -> Outcome | None:
        """Targets for the live ids as known at ``now``; ``None`` while nothing is known."""


def _bins(values: np.ndarray) -> np.ndarray:
    ranks = (pd.Series(values).rank(method="first").to_numpy() - 0.5) / len(values)
    return TARGET_BINS[np.searchsorted(_BIN_EDGES, ranks, side="right")]


class SyntheticRoundData:
    """Generated rounds: int8 features, a weak hidden signal, five-bin targets.

    Deterministic for ``(seed, round number)``. ``skill_signal(number)`` gives the hidden
    signal (what a perfectly skilled model would predict), so tests and bots can build
    models of any chosen skill. Provisional targets appear ``provisional_after`` the
    close; final ones ``resolution_delay`` after it.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        rows: int = 400,
        n_features: int = 12,
        signal_strength: float = 0.35,
        resolution_delay: timedelta = timedelta(days=28),
        provisional_after: timedelta = timedelta(days=7),
        benchmarks: int = 2,
    ) -> None:
        self.seed = seed
        self.rows = rows
        self.n_features = n_features
        self.signal_strength = signal_strength
        self.resolution_delay = resolution_delay
        self.provisional_after = provisional_after
        self.n_benchmarks = benchmarks

    def _rng(self, number: int, salt: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}:{number}:{salt}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def live_ids(self, number: int) -> list[str]:
        return [
            "n" + hashlib.sha256(f"{self.seed}:{number}:{i}".encode()).hexdigest()[:15]
            for i in range(self.rows)
        ]

    def features(self, number: int) -> pd.DataFrame:
        values = self._rng(number, "features").integers(
            0, 5, size=(self.rows, self.n_features), dtype=np.int8
        )
        columns = [f"feature_{j:03d}" for j in range(self.n_features)]
        return pd.DataFrame(
            values, index=pd.Index(self.live_ids(number), name="id"), columns=columns
        )

    def skill_signal(self, number: int) -> pd.Series:
        feats = self.features(number).to_numpy(dtype=np.float64) - 2.0
        weights = self._rng(0, "weights").normal(size=self.n_features)
        hidden = self._rng(number, "hidden").normal(size=self.rows)
        signal = feats @ weights / np.sqrt(self.n_features) + hidden
        return pd.Series(signal, index=pd.Index(self.live_ids(number), name="id"))

    def _target(self, number: int, extra_noise: float) -> pd.Series:
        signal = self.skill_signal(number).to_numpy()
        signal = (signal - signal.mean()) / signal.std()
        noise = self._rng(number, "noise").normal(size=self.rows)
        raw = self.signal_strength * signal + noise
        if extra_noise:
            raw = raw + extra_noise * self._rng(number, "provisional").normal(size=self.rows)
        return pd.Series(
            _bins(raw), index=pd.Index(self.live_ids(number), name="id"), name="target"
        )

    def publish(self, number: int, opens_at: datetime) -> PublishedDataset:
        live = self.features(number)
        live.insert(0, "era", f"{number:04d}")
        live.insert(1, "data_type", "live")
        live["target"] = np.nan
        buffer = io.BytesIO()
        live.to_parquet(buffer)
        features_json = json.dumps(
            {
                "feature_sets": {"all": [c for c in live.columns if c.startswith("feature_")]},
                "targets": ["target"],
            },
            indent=2,
        ).encode()
        return PublishedDataset(
            version=f"synthetic-{self.seed}-{number:04d}",
            live_ids=list(live.index),
            files={"live.parquet": buffer.getvalue(), "features.json": features_json},
        )

    def benchmark_predictions(self, number: int) -> pd.DataFrame:
        signal = self.skill_signal(number)
        out = {}
        for b in range(self.n_benchmarks):
            noise = self._rng(number, f"benchmark{b}").normal(size=self.rows)
            out[f"benchmark_{b}"] = signal.to_numpy() + (1.0 + b) * noise
        frame = pd.DataFrame(out, index=signal.index)
        return frame.rank(pct=True)

    def outcome(
        self, number: int, live_ids: Sequence[str], *, closes_at: datetime, now: datetime
    ) -> Outcome | None:
        if now >= closes_at + self.resolution_delay:
            final, extra = True, 0.0
        elif now >= closes_at + self.provisional_after:
            final, extra = False, 1.0
        else:
            return None
        targets = self._target(number, extra).reindex(pd.Index(live_ids, name="id"))
        return Outcome(
            targets=targets,
            final=final,
            features=self.features(number).reindex(targets.index),
            benchmarks=self.benchmark_predictions(number).reindex(targets.index)
            if self.n_benchmarks
            else None,
            regime=self.regime(number) if final else None,
        )

    def regime(self, number: int) -> str:
        """Round ``number``'s market regime label: generated like the rest (this source has
        no market), uniformly over :data:`~crowdalpha.dataset.regimes.REGIMES`."""
        return REGIMES[int(self._rng(number, "regime").integers(len(REGIMES)))]
