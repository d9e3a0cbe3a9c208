"""One date of Signals data: universe, public features, targets, N and v — from a panel.

Every array of an :class:`EraData` is in the order of its universe frame (sorted by
``numerai_ticker``). Values are computed from windows of the panel around the date (see
:mod:`crowdalpha.dataset.signals.panel`): the features, N and v from the prices up to the
date, the targets from the prices up to ``t + lag + h``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import ThreadpoolController

from crowdalpha.dataset.signals.config import SignalsConfig
from crowdalpha.dataset.signals.features import (
    LOOKBACK_DAYS,
    NUMERIC_FEATURES,
    compute_features,
)
from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.dataset.signals.risk import (
    VALUE_DAYS,
    Exposures,
    dummies,
    fill_mean,
    gram_schmidt,
    neutralizer_columns,
    orthonormalize,
    sample_weights,
    style_matrix,
    value_proxy,
)
from crowdalpha.dataset.signals.targets import era_targets, forward_returns
from crowdalpha.dataset.signals.universe import universe_frame, universe_rows

__all__ = ["EraData", "EraEngine", "history_days"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def history_days(config: SignalsConfig) -> int:
    """Trading days before a date that its values read (the value proxy's 504 is the
    longest), plus the date itself."""
    return max(LOOKBACK_DAYS, VALUE_DAYS, config.universe.adv_days) + 1


@dataclass(frozen=True)
class EraData:
    """A date's Signals data, rows in universe order (sorted by ``numerai_ticker``)."""

    date: pd.Timestamp
    #: The universe frame (:data:`~crowdalpha.dataset.signals.universe.UNIVERSE_COLUMNS`).
    universe: pd.DataFrame
    #: Public features (:data:`~crowdalpha.dataset.signals.features.FEATURE_NAMES`).
    features: pd.DataFrame
    #: Binned targets by name (NaN where unknown); empty when not asked for.
    targets: dict[str, F64]
    #: Forward log returns by horizon (None where unknown); empty when not asked for.
    returns: dict[int, F64 | None]
    #: ``(rows, columns)`` neutralizer matrix N, columns :attr:`EraEngine.neutralizer_names`.
    neutralizers: F64
    #: Sample weights v (mean 1).
    sample_weights: F64


class EraEngine:
    """Computes :class:`EraData` for the trading days of one panel."""

    def __init__(
        self,
        panel: PricePanel,
        config: SignalsConfig,
        exposures: Exposures | None = None,
    ) -> None:
        self.panel = panel
        self.config = config
        self.exposures = exposures
        self.risk_names = ["value"]
        if exposures is not None:
            self.risk_names += [f"risk_{f}" for f in exposures.factors]
        #: N's columns: fixed for the panel (countries and sectors it holds).
        self.neutralizer_names = neutralizer_columns(
            panel.country_names, panel.sector_names, self.risk_names
        )
        self._blas = ThreadpoolController()

    def era(self, t: int, *, targets: bool = True, days: Sequence[int] | None = None) -> EraData:
        """The data of trading day ``t``; targets only when asked (NaN where unknown).

        ``days`` (one per configured horizon) computes each horizon's targets over that
        many days instead — shorter horizons give provisional targets under the configured
        names. Linear algebra runs on one BLAS thread: the matrices are small (threads only
        contend), and a value must not depend on the machine's thread count.
        """
        with self._blas.limit(limits=1, user_api="blas"):
            return self._era(t, targets, days)

    def _era(self, t: int, targets: bool, days: Sequence[int] | None) -> EraData:
        panel, cfg = self.panel, self.config
        rows = universe_rows(panel, t, cfg.universe)
        names = np.asarray(panel.numerai_tickers(t, rows), dtype=str)
        rows = rows[np.argsort(names, kind="stable")]
        universe = universe_frame(panel, t, rows)
        features = compute_features(panel, t, rows)
        exposures = None
        if self.exposures is not None:
            exposures = self.exposures.at(panel.days[t], [str(panel.tickers[i]) for i in rows])
        styles, _, risk_only, _ = style_matrix(
            features,
            value_proxy(panel, t, rows),
            exposures,
            self.exposures.factors if self.exposures is not None else (),
        )
        numeric = np.column_stack(
            [fill_mean(features[f].to_numpy(np.float64)) for f in NUMERIC_FEATURES]
        )
        countries = dummies(panel.country_code[t, rows], len(panel.country_names))
        sectors = dummies(panel.sector_code[t, rows], len(panel.sector_names))
        const = np.ones((len(rows), 1))
        v = sample_weights(panel, t, rows, cfg.universe.adv_days)
        n_matrix = orthonormalize(np.hstack([const, countries, sectors, risk_only, numeric]), v)
        out_targets: dict[str, F64] = {}
        returns: dict[int, F64 | None] = {}
        if targets:
            spans = cfg.horizons if days is None else tuple(days)
            returns = {
                h: forward_returns(panel, t, rows, cfg.lag, d)
                for h, d in zip(cfg.horizons, spans, strict=True)
            }
            # One Gram–Schmidt pass: its first columns are the factor design's basis.
            factor = np.hstack([const, countries, sectors, styles])
            q = gram_schmidt(np.hstack([factor, numeric]))
            kept = np.abs(q).sum(axis=0) > 0
            feature_q = q[:, kept]
            factor_q = q[:, : factor.shape[1]][:, kept[: factor.shape[1]]]
            out_targets = era_targets(returns, factor_q, feature_q)
        return EraData(
            date=panel.days[t],
            universe=universe,
            features=features,
            targets=out_targets,
            returns=returns,
            neutralizers=n_matrix,
            sample_weights=v,
        )
