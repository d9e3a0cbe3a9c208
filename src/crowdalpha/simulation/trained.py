"""Bots that train real models on each round's published train data, as participants do.

The ``trained`` kind differs from the other bots: it is given no skill. Each round it fits
its model on the round's ``train.parquet`` (the pipeline's sources publish one: the
simulated market of the demo and of ``crowdalpha simulate --source simulated``, or an
operator's prices) and predicts the round's live rows — so trained bots make the errors
real participants make, and make them together: models of one family on overlapping
features share their mistakes, which is what limits what a meta model gains over its best
member.

:data:`TRAINED_MODELS` lists the recipes a roster's ``trained`` bots take in turn: ridge
regressions and LightGBM models of a few hyper-parameters on the ``small``, ``medium`` and
``all`` feature sets. LightGBM is an optional dependency (``crowdalpha[examples]``).
Identical recipes on the same round fit once (a small cache keyed by the train file).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crowdalpha.dataset.example import fit_example_model
from crowdalpha.errors import InvalidParameterError
from crowdalpha.simulation.bots import RoundView, _ranks

__all__ = ["TRAINED_MODELS", "TrainedModel"]

_FIT_CACHE_SIZE = 16
_FITS: OrderedDict[tuple[object, ...], Any] = OrderedDict()


@dataclass(frozen=True)
class TrainedModel:
    """A ridge regression (``learner="ridge"``; ``penalty`` × rows) or a LightGBM model
    (``learner="lgbm"``; ``trees``, ``learning_rate``, ``leaves``, ``colsample``) on one
    feature set of the round's published train data."""

    learner: str
    feature_set: str
    penalty: float = 10.0
    trees: int = 200
    learning_rate: float = 0.05
    leaves: int = 15
    colsample: float = 0.3
    era_stride: int = 2
    kind: str = "trained"

    def __post_init__(self) -> None:
        if self.learner not in ("ridge", "lgbm"):
            raise InvalidParameterError(f"learner must be 'ridge' or 'lgbm', not {self.learner!r}")

    @property
    def label(self) -> str:
        if self.learner == "ridge":
            return f"ridge({self.feature_set}, penalty {self.penalty:g})"
        return (
            f"lgbm({self.feature_set}, {self.trees} trees × {self.learning_rate:g}, "
            f"{self.leaves} leaves, colsample {self.colsample:g})"
        )

    def predict(
        self, view: RoundView, rng: np.random.Generator, made: Mapping[str, pd.Series]
    ) -> pd.Series:
        if view.public is None:
            raise InvalidParameterError(
                "trained bots need the round's published train data: run them on a pipeline "
                "source (the simulated market or prices), not the synthetic one"
            )
        if view.targets is not None:  # a synthetic validation era: nothing to learn from
            return _ranks(rng.normal(size=len(view.ids)), view.ids)
        fitted = self._fit(view.public)
        names = self._features(view.public)
        live = view.features.reindex(columns=names)
        if self.learner == "ridge":
            raw = fitted.predict(pa.Table.from_pandas(live, preserve_index=False))
        else:
            raw = fitted.predict(live)
        return _ranks(np.asarray(raw, dtype=np.float64), view.ids)

    def _features(self, public: Path) -> list[str]:
        sets = json.loads((public / "features.json").read_text())["feature_sets"]
        return list(sets.get(self.feature_set) or sets["all"])

    def _fit(self, public: Path) -> Any:
        train = public / "train.parquet"
        key = (self, str(train.resolve()), train.stat().st_mtime_ns)
        if key in _FITS:
            _FITS.move_to_end(key)
            return _FITS[key]
        if self.learner == "ridge":
            fitted: Any = fit_example_model(
                public, feature_set=self.feature_set, ridge=self.penalty
            )
        else:
            fitted = self._fit_lgbm(public)
        _FITS[key] = fitted
        while len(_FITS) > _FIT_CACHE_SIZE:
            _FITS.popitem(last=False)
        return fitted

    def _fit_lgbm(self, public: Path) -> Any:
        try:
            import lightgbm as lgb
        except ImportError:  # pragma: no cover - an optional dependency
            raise InvalidParameterError(
                "LightGBM bots need lightgbm: pip install 'crowdalpha[examples]'"
            ) from None
        names = self._features(public)
        parquet = pq.ParquetFile(public / "train.parquet")
        frames = [
            parquet.read_row_group(g, columns=[*names, "target"]).to_pandas()
            for g in range(0, parquet.num_row_groups, self.era_stride)
        ]
        frame = pd.concat(frames).dropna(subset=["target"])
        model = lgb.LGBMRegressor(
            n_estimators=self.trees,
            learning_rate=self.learning_rate,
            num_leaves=self.leaves,
            max_depth=-1,
            colsample_bytree=self.colsample,
            n_jobs=1,
            verbose=-1,
        )
        model.fit(frame[names].to_numpy(dtype=np.float64), frame["target"].to_numpy())
        return _Lgbm(model)


@dataclass(frozen=True)
class _Lgbm:
    model: Any

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        out: np.ndarray = self.model.predict(frame.to_numpy(dtype=np.float64))
        return out


#: The recipes the roster's ``trained`` bots take in turn.
TRAINED_MODELS: tuple[TrainedModel, ...] = (
    TrainedModel("ridge", "small", penalty=1.0),
    TrainedModel("lgbm", "medium", trees=200, learning_rate=0.05, leaves=15),
    TrainedModel("ridge", "medium", penalty=10.0),
    TrainedModel("lgbm", "all", trees=300, learning_rate=0.03, leaves=31, colsample=0.1),
    TrainedModel("ridge", "all", penalty=100.0),
    TrainedModel("lgbm", "small", trees=100, learning_rate=0.1, leaves=7, colsample=0.5),
)
