"""Resolve a Signals round: every model's scores, in two vectorised passes over blocks of models.

:func:`score_signals_round` is to Signals what :func:`crowdalpha.scoring.score_round` is to
Classic. It takes the round's cleaned signals (tickers × models, as
:func:`crowdalpha.scoring.clean_signals` makes them), the live targets, the public features,
the neutralizer matrix ``N``, the sample weights ``v`` and the stakes, and gives each model
the scores the round's payout configuration asks for:

=================  ==============================================================  =========
metric             equals, column by column                                        needs
=================  ==============================================================  =========
``corr``           :func:`numerai_corr` (CORRv4)                                   —
``mmc``            :func:`correlation_contribution` against the meta model        meta model
``fnc``            :func:`feature_neutral_corr` (FNCv4)                            features
``alpha``          :func:`alpha`                                                   N, v
``mpc``            :func:`meta_portfolio_contribution` (every model; 0 if unstaked) N, v, stakes
``neutral_corr``   :func:`neutral_correlation`                                     N
``neutral_mmc``    :func:`neutral_contribution` against the meta model             N, meta model
=================  ==============================================================  =========

Each metric may use its own target (``metrics={"corr": "target", "mmc":
"target_factor_neutral_20", "alpha": "target_chili_60", …}``). The meta model is given, or
built from the stakes as Classic's is (the stake-weighted mean of the Gaussianized ranks,
tie-kept ranked). Models are processed in blocks: a model's ranks are computed once and
shared by every metric scoring the same tickers, memory follows the block (plus the int32
rank codes and, for MPC, the centred weights of every model), and the only pass over all
models before scoring builds what needs every model — the meta model and MPC's portfolio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from crowdalpha.errors import (
    IndexMismatchError,
    InvalidParameterError,
    MissingValuesError,
)
from crowdalpha.scoring import kernels, portfolio_kernels
from crowdalpha.scoring.kernels import FloatArray
from crowdalpha.scoring.metrics import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    _as_frame,
    _as_series,
    _check_ratio,
    _check_unique,
    _corr_core,
    _features_matrix,
    _float_values,
    _guard_power,
    _Ids,
    _mmc_core,
    _mmc_ids,
    _neutral_normalized,
    _overlap,
    _values_ids,
)
from crowdalpha.scoring.neutral import _check_weight_inputs, _overlap_many
from crowdalpha.scoring.signals_blocks import (
    MAIN_TARGET,
    SIGNALS_METRICS,
    Block,
    RoundInputs,
    Rows,
    centred,
    rows_of,
)

__all__ = [
    "MAIN_TARGET",
    "SIGNALS_META_MODEL_NAME",
    "SIGNALS_METRICS",
    "SignalsRoundScores",
    "score_signals_round",
]

SIGNALS_META_MODEL_NAME: Final = "signals_meta_model"


@dataclass(frozen=True)
class SignalsRoundScores:
    """What :func:`score_signals_round` computes: models × metrics, and the meta model used."""

    scores: pd.DataFrame
    meta_model: pd.Series | None


Scorer = Callable[[Block], FloatArray]


class _Scorers:
    """One scoring function per requested metric, set up from the round's inputs."""

    def __init__(self, rnd: RoundInputs) -> None:
        self.rnd = rnd
        self.meta: pd.Series | None = rnd.meta_given
        self._ranks: list[dict[bytes, kernels.RankCodes]] = []
        self._centred: list[FloatArray] = []
        self._means: list[FloatArray] = []
        self._portfolio = np.zeros(0)

    # --- what needs every model -----------------------------------------------------------

    def first_pass(self) -> None:
        """Build the meta model (from the stakes) and MPC's portfolio, if asked for."""
        rnd = self.rnd
        stakes = rnd.stakes
        build_meta = self.meta is None and stakes is not None
        mpc = "mpc" in rnd.targets
        if stakes is None or not (build_meta or mpc):
            return  # mpc needs stakes: checked up front
        rows, n_rows, v = self._weight_inputs("mpc") if mpc else (rnd.all, np.zeros(0), np.zeros(0))

        def work(number: int, cols: slice) -> tuple[FloatArray | None, FloatArray | None]:
            block = rnd.block(number, cols)
            shares = stakes[cols]
            combined = portfolio = None
            if build_meta:
                combined = shares @ block.ranks(rnd.all).gaussian
            if mpc:
                w = self._neutral_weights(block, rows, n_rows, v)
                mean = w.mean(axis=1)
                w -= mean[:, None]
                portfolio = shares @ w
                self._centred[number], self._means[number] = w, mean
            self._ranks[number] = block.kept_ranks()
            return combined, portfolio

        n_blocks = len(rnd.slices())
        self._ranks = [{} for _ in range(n_blocks)]
        self._centred = [np.zeros((0, 0))] * n_blocks
        self._means = [np.zeros(0)] * n_blocks
        parts = rnd.map_blocks(work)
        if build_meta:  # summed in block order: the same numbers however blocks were run
            combined = np.sum([c for c, _ in parts if c is not None], axis=0)
            ranked = pd.Series(combined).rank(method="average")
            meta = (ranked - 0.5) / ranked.count()
            self.meta = pd.Series(meta.to_numpy(), index=rnd.ids, name=SIGNALS_META_MODEL_NAME)
        if mpc:
            portfolio = np.sum([p for _, p in parts if p is not None], axis=0)
            self._portfolio = portfolio - portfolio.mean()

    # --- per-metric set-up --------------------------------------------------------------

    def _weight_inputs(self, metric: str) -> tuple[Rows, FloatArray, FloatArray]:
        """The rows Alpha or MPC scores, and N and v on them (which must cover every one)."""
        rnd = self.rnd
        _, t_ids, _ = rnd.target(metric)
        ids = _overlap_many([rnd.p_ids, t_ids], rnd.ratio)
        neut = _as_frame(rnd.neutralizers, "neutralizers")
        weights = _as_series(rnd.sample_weights, "sample_weights")
        n_ids, v_ids = _check_weight_inputs(neut, weights)
        ranked = _Ids("signals", ids, np.ones(len(ids), dtype=bool))
        kept = _overlap_many([ranked, n_ids, v_ids], rnd.ratio)
        if len(kept) != len(ids):
            missing = ids.difference(kept)
            raise IndexMismatchError(
                f"neutralizers and sample_weights must cover every scored ticker; "
                f"{len(missing)} are missing, e.g. {[str(m) for m in missing[:5]]}",
                details={"missing": len(missing)},
            )
        v = rnd.at(_float_values(weights, "sample_weights"), weights.index, ids)
        return rows_of(rnd.ids, ids), rnd.neutralizer_rows(ids), v

    @staticmethod
    def _neutral_weights(block: Block, rows: Rows, n_rows: FloatArray, v: FloatArray) -> FloatArray:
        rc = block.ranks(rows)
        _guard_power(rc, rows.seg, block.columns, None)
        s_prime = rc.gaussian_pow15
        return portfolio_kernels.neutral_weights(s_prime, n_rows, v)

    def scorers(self) -> dict[str, Scorer]:
        make = {
            "corr": self._corr,
            "mmc": self._mmc,
            "fnc": self._fnc,
            "alpha": self._alpha,
            "mpc": self._mpc,
            "neutral_corr": self._neutral_corr,
            "neutral_mmc": self._neutral_mmc,
        }
        return {metric: make[metric]() for metric in self.rnd.targets}

    def _corr(self) -> Scorer:
        rnd = self.rnd
        t_all, t_ids, index = rnd.target("corr")
        rows = rows_of(rnd.ids, _overlap(t_ids, rnd.p_ids, rnd.ratio).index)
        t = rnd.at(centred(t_all), index, rows.ids)

        def score(block: Block) -> FloatArray:
            return _corr_core(
                block.rows(rows),
                t,
                rows.seg,
                top_bottom=None,
                target_pow15=True,
                columns=block.columns,
                rc=block.ranks(rows),
            )[:, 0]

        return score

    def _meta_values(self) -> tuple[FloatArray, _Ids, pd.Index]:
        if self.meta is None:  # pragma: no cover - the metrics needing it were checked
            raise InvalidParameterError("this metric needs a meta model, or stakes to build it")
        m_all, m_ids = _values_ids(self.meta, "meta_model")
        return m_all, m_ids, self.meta.index

    def _mmc(self) -> Scorer:
        rnd = self.rnd
        t_all, t_ids, t_index = rnd.target("mmc")
        m_all, m_ids, m_index = self._meta_values()
        rows = rows_of(rnd.ids, _mmc_ids(rnd.p_ids, m_ids, t_ids, rnd.ratio))
        m = rnd.at(m_all, m_index, rows.ids)
        t = rnd.at(t_all, t_index, rows.ids)

        def score(block: Block) -> FloatArray:
            g = block.ranks(rows).gaussian
            return _mmc_core(block.rows(rows), m, t, rows.seg, None, g=g)[:, 0]

        return score

    def _fnc(self) -> Scorer:
        rnd = self.rnd
        feats = _as_frame(rnd.features, "features")
        _check_unique(feats, "features")
        if len(feats) != len(rnd.ids) or not feats.index.sort_values().equals(rnd.ids):
            raise IndexMismatchError(
                "features must hold exactly the signals' tickers",
                details={"signals": len(rnd.ids), "features": len(feats)},
            )
        f = _features_matrix(feats.reindex(rnd.ids))
        if f.dtype.kind == "f" and np.isnan(f).any():
            raise MissingValuesError("features contain NaN; fill them first")
        t_all, t_ids, index = rnd.target("fnc")
        rows = rows_of(rnd.ids, _overlap(t_ids, rnd.p_ids, rnd.ratio).index)
        t = rnd.at(centred(t_all), index, rows.ids)
        every_row = len(rows.positions) == len(rnd.ids)

        def score(block: Block) -> FloatArray:
            g = block.ranks(rnd.all).gaussian
            neutral = _neutral_normalized(block.x, f, rnd.all.seg, block.columns, None, g=g)
            scored = neutral if every_row else np.ascontiguousarray(neutral[:, rows.positions])
            return _corr_core(
                scored, t, rows.seg, top_bottom=None, target_pow15=True, columns=block.columns
            )[:, 0]

        return score

    def _alpha(self) -> Scorer:
        rnd = self.rnd
        t_all, _, index = rnd.target("alpha")
        rows, n_rows, v = self._weight_inputs("alpha")
        t = rnd.at(centred(t_all), index, rows.ids)
        shared = "mpc" in rnd.targets and self._mpc_rows_key() == rows.key

        def score(block: Block) -> FloatArray:
            if shared:  # W t = W_c t + mean(W) Σ t, from the weights MPC kept
                centred, mean = self._mpc_block(block)
                return np.asarray((centred @ t + mean * t.sum()) / len(t))
            return portfolio_kernels.alpha(self._neutral_weights(block, rows, n_rows, v), t)

        return score

    def _mpc_rows_key(self) -> bytes:
        _, t_ids, _ = self.rnd.target("mpc")
        return rows_of(self.rnd.ids, _overlap_many([self.rnd.p_ids, t_ids], self.rnd.ratio)).key

    def _mpc_block(self, block: Block) -> tuple[FloatArray, FloatArray]:
        return self._centred[block.number], self._means[block.number]

    def _mpc(self) -> Scorer:
        rnd = self.rnd
        t_all, t_ids, index = rnd.target("mpc")
        ids = _overlap_many([rnd.p_ids, t_ids], rnd.ratio)
        t = rnd.at(t_all, index, ids)
        t = t - t.mean()
        p = self._portfolio
        norm = float(np.sqrt(np.sum(p**2)))
        pt, pp = float(p @ t), float(p @ p)

        def score(block: Block) -> FloatArray:
            centred, _ = self._mpc_block(block)
            with np.errstate(invalid="ignore", divide="ignore"):
                gradient = centred @ t - (centred @ p) / pp * pt
                return np.asarray(gradient / norm / portfolio_kernels.MPC_SCALE)

        return score

    def _neutral_corr(self) -> Scorer:
        rnd = self.rnd
        t_all, t_ids, index = rnd.target("neutral_corr")
        n_ids = _Ids.of(_as_frame(rnd.neutralizers, "neutralizers"), "neutralizers")
        rows = rows_of(rnd.ids, _overlap_many([t_ids, rnd.p_ids, n_ids], rnd.ratio))
        t = rnd.at(centred(t_all), index, rows.ids)
        n_rows = rnd.neutralizer_rows(rows.ids)

        def score(block: Block) -> FloatArray:
            # a model constant over these tickers gets NaN here (the single function
            # refuses it): one such model must not stop a round
            neutral = kernels.neutralize(block.ranks(rows).gaussian, n_rows, rows.seg)
            return kernels.pearson(neutral, t, rows.seg)[:, 0]

        return score

    def _neutral_mmc(self) -> Scorer:
        rnd = self.rnd
        t_all, t_ids, index = rnd.target("neutral_mmc")
        m_all, m_ids, m_index = self._meta_values()
        n_ids = _Ids.of(_as_frame(rnd.neutralizers, "neutralizers"), "neutralizers")
        rows = rows_of(rnd.ids, _overlap_many([t_ids, rnd.p_ids, m_ids, n_ids], rnd.ratio))
        n_rows = rnd.neutralizer_rows(rows.ids)
        m = rnd.at(m_all, m_index, rows.ids)
        m_neutral = kernels.neutralize(
            kernels.rank_codes(m[None, :], rows.seg).gaussian, n_rows, rows.seg
        )[0]
        t = rnd.at(t_all, index, rows.ids)

        def score(block: Block) -> FloatArray:
            neutral = kernels.neutralize(block.ranks(rows).gaussian, n_rows, rows.seg)
            return kernels.contribution(neutral, m_neutral, t, rows.seg)[:, 0]

        return score

    # --- the passes ---------------------------------------------------------------------

    def run(self) -> pd.DataFrame:
        self.first_pass()
        scorers = self.scorers()
        rnd = self.rnd

        def work(number: int, cols: slice) -> FloatArray:
            ranks = self._ranks[number] if number < len(self._ranks) else None
            block = rnd.block(number, cols, ranks)
            scores = np.column_stack([score(block) for score in scorers.values()])
            if ranks is not None:  # this block is done: let its ranks and weights go
                self._ranks[number] = {}
            if number < len(self._centred):
                self._centred[number] = np.zeros((0, 0))
            return scores

        out = np.concatenate(rnd.map_blocks(work), axis=0)
        return pd.DataFrame(out, index=rnd.frame.columns, columns=list(scorers))


def score_signals_round(
    signals: pd.DataFrame,
    targets: pd.DataFrame | pd.Series,
    *,
    metrics: Mapping[str, str] | Sequence[str] | None = None,
    stakes: pd.Series | None = None,
    meta_model: pd.Series | None = None,
    features: pd.DataFrame | None = None,
    neutralizers: pd.DataFrame | None = None,
    sample_weights: pd.Series | None = None,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> SignalsRoundScores:
    """Score every model of a Signals round (see the module docstring for the metrics).

    ``signals``: tickers × models, cleaned (no NaN). ``targets``: one Series (the main
    target) or tickers × named targets. ``metrics``: which metrics to compute — a mapping
    of metric to target column, a sequence of metrics (each on the ``"target"`` column), or
    ``None`` for every metric whose inputs are given, on the main target. ``stakes`` (any
    non-negative numbers; only their ratios matter) name signals columns: they build the
    meta model when ``meta_model`` is not given, and weight MPC's meta portfolio.
    ``features`` (FNC) hold exactly the signals' tickers; ``neutralizers`` and
    ``sample_weights`` (Alpha, MPC, the neutral metrics) cover every scored ticker.

    Returns models × metrics, each column equal to the single-metric function on the same
    inputs, and the meta model used (``None`` when there is none).
    """
    rnd = RoundInputs(
        signals,
        targets,
        metrics,
        stakes,
        meta_model,
        features,
        neutralizers,
        sample_weights,
        _check_ratio(max_filtered_index_ratio),
    )
    scorers = _Scorers(rnd)
    scores = scorers.run()
    return SignalsRoundScores(scores=scores, meta_model=scorers.meta)
