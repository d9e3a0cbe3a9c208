"""The Signals example model: a ridge regression of the main target on the public features.

Frugal by design — fitted while the train eras stream past, from a features × features
matrix — it shows the set-up end to end and gives every round a baseline: its validation
and live predictions are published as ``signal``, the tie-kept rank ``(rank − ½) / n``
within each date, so the live file is a valid submission as it stands.

Inputs are the numeric features with a missing value set to the date's mean, centred
within the date; the target is centred on 0.5. Note that the main target is neutralized to
these very features, so the model can only find what the binning and the cross-date pooling
leave: its scores are small by construction (as Numerai's own example's are against
feature-neutral targets). Participants are expected to bring other data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import rankdata

from crowdalpha.dataset.signals.features import NUMERIC_FEATURES
from crowdalpha.dataset.signals.risk import fill_mean
from crowdalpha.errors import InvalidInputError

__all__ = ["RidgeExample", "design", "tie_kept_rank"]

F64 = npt.NDArray[np.float64]


def design(features: pd.DataFrame) -> F64:
    """The model's inputs for one date: ``(rows, numeric features)``, filled and centred."""
    x = np.column_stack([fill_mean(features[f].to_numpy(np.float64)) for f in NUMERIC_FEATURES])
    out: F64 = x - x.mean(axis=0) if len(x) else x
    return out


def tie_kept_rank(values: F64) -> F64:
    """``(rank − ½) / n`` with average ranks for ties: values in (0, 1)."""
    out: F64 = (rankdata(values, method="average") - 0.5) / len(values)
    return out


class RidgeExample:
    """Accumulates ``XᵀX`` and ``Xᵀy`` date by date, then predicts."""

    def __init__(self, ridge: float) -> None:
        self.ridge = ridge
        k = len(NUMERIC_FEATURES)
        self._xtx = np.zeros((k, k))
        self._xty = np.zeros(k)
        self._rows = 0
        self._weights: F64 | None = None

    def add(self, features: pd.DataFrame, target: F64) -> None:
        """One train date's rows (those with a known target count)."""
        x = design(features)
        ok = np.isfinite(target)
        self._xtx += x[ok].T @ x[ok]
        self._xty += x[ok].T @ (target[ok] - 0.5)
        self._rows += int(ok.sum())

    @property
    def weights(self) -> F64:
        if self._weights is None:
            if self._rows == 0:
                raise InvalidInputError("the example model has no train rows with a target")
            k = len(NUMERIC_FEATURES)
            penalty = self.ridge * self._rows * np.eye(k)
            weights = np.asarray(np.linalg.solve(self._xtx + penalty, self._xty), np.float64)
            self._weights = weights
        return self._weights

    def predict(self, features: pd.DataFrame) -> F64:
        """One date's ``signal``: ranks in (0, 1)."""
        return tie_kept_rank(design(features) @ self.weights)
