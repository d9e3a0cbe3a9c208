"""The privacy audit: an attacker with the public prices tries to re-identify published rows.

Threat model (see ``docs/privacy.md``): the attacker holds the daily prices of the whole
universe and this open-source pipeline (the :class:`~crowdalpha.dataset.features.
FeatureConfig`), and the public round files — not the vault key. The attack:

1. **Recompute.** For the live era's date, compute every listed ticker's features and bin
   them as the pipeline does (:func:`~crowdalpha.dataset.obfuscate.quantile_bins`).
2. **Match columns.** Published columns have opaque names and a keyed order, so each column
   (published and own) gets a permutation-invariant signature — its sorted, normalised
   profile of absolute correlations with every other column (averaged over the live era and
   up to ``column_eras`` published validation eras: names are stable across eras, and the
   average beats down noise), plus its share of the middle bin — and
   :func:`scipy.optimize.linear_sum_assignment` pairs them up.
3. **Match rows.** Each published row is paired one to one with a ticker by minimum total L1
   distance between binned vectors (computed in chunks to bound memory).

The *re-identification rate* is the share of live rows paired with their true ticker (truth
from the operator's ``live_ids.parquet``); chance is one over the number of rows. The
*cross-era linkage rate* uses published data alone: rows of consecutive validation eras are
paired the same way (columns keep their names across eras) and a pair counts when both rows
are the same stock (truth recomputed with the vault's :meth:`~crowdalpha.dataset.obfuscate.
Vault.row_id`). :func:`example_model_corr` measures what a mode costs a model: the
validation CORR of the ridge example model trained on the round's train data.

Steps 2–3 need the published columns to be the features. Against modes that publish mixes
of features instead (``"composite"``), the audit runs attackers that do not need that, and
reports the best of all attacks that apply:

- **moments** (published data and prices only): in every published era with known targets,
  the published columns' covariances with the published targets must equal the mix applied
  to the recomputed features' covariances with the recomputed targets — rows need not be
  linked for that. Ridge regression over all those eras and targets estimates each
  published column's weights on the features; the live rows are then matched (L1 on bins)
  to the tickers' recomputed, binned estimates.
- **known mix** (an upper bound): the attacker holds the operator's exact :class:`~crowdalpha.
  dataset.obfuscate.Mix` (as one who refits it with the public recipe would) and matches on
  bins (L1) and, when the noise level is given, by the likelihood of each published bin
  under that noise.

With ``history_eras``, validation eras are attacked too, each as if it were live, which
pools more rows into the rate (small rates are otherwise a handful of hits).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq
from scipy.optimize import linear_sum_assignment
from scipy.special import ndtr, ndtri

from crowdalpha.dataset.features import FeatureConfig, FeatureEngine
from crowdalpha.dataset.obfuscate import (
    MISSING_BIN,
    N_BINS,
    Mix,
    Vault,
    centred_ranks,
    quantile_bins,
)
from crowdalpha.dataset.targets import TargetConfig, TargetEngine
from crowdalpha.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "AuditReport",
    "audit_round",
    "estimate_mix",
    "example_model_corr",
    "match_columns",
    "match_rows",
    "match_rows_likelihood",
]

Progress = Callable[[int, int], None]
#: Bytes of the int16 difference block one chunk of the row distances may use.
_CHUNK_BYTES = 1 << 25


@dataclass(frozen=True)
class AuditReport:
    """What the attacker achieved on one round."""

    #: Rows attacked (the live era's, plus history eras' if asked) and how many were paired
    #: with their true ticker (by the best attack).
    live_rows: int
    reidentified: int
    #: Published columns paired with their true feature (a diagnostic of step 2; NaN when
    #: the column attack does not apply).
    columns_matched: float
    #: Pairs of consecutive validation eras attacked, rows compared and rows linked rightly.
    linkage_pairs: int
    linkage_rows: int
    linked: int
    #: Live rows paired with their true ticker, per attack that applied (see the module).
    attacks: dict[str, int] = field(default_factory=dict)
    #: Eras whose rows ``live_rows`` counts: the live one, plus any history eras attacked.
    eras_attacked: int = 1

    @property
    def best_attack(self) -> str | None:
        """The attack that re-identified the most live rows."""
        return max(self.attacks, key=lambda a: self.attacks[a]) if self.attacks else None

    @property
    def reidentification_rate(self) -> float:
        return self.reidentified / self.live_rows if self.live_rows else float("nan")

    @property
    def chance(self) -> float:
        """The rate of a random one-to-one guess: one over the rows of an era (on average)."""
        return self.eras_attacked / self.live_rows if self.live_rows else float("nan")

    @property
    def linkage_rate(self) -> float:
        return self.linked / self.linkage_rows if self.linkage_rows else float("nan")

    @property
    def linkage_chance(self) -> float:
        """One over the rows of an era (averaged over the pairs attacked)."""
        return self.linkage_pairs / self.linkage_rows if self.linkage_rows else float("nan")


def _abs_corr(bins: npt.NDArray[np.integer]) -> np.ndarray:
    x = bins.astype(np.float64)
    x -= x.mean(axis=0)
    norms = np.sqrt((x * x).sum(axis=0))
    x /= np.where(norms > 0, norms, 1.0)
    out: np.ndarray = np.abs(x.T @ x)
    return out


def _signatures(
    bins: npt.NDArray[np.integer], more: list[npt.NDArray[np.integer]] | None = None
) -> np.ndarray:
    """Per column of (rows × columns) bin matrices: sorted |corr| profile and middle share.

    ``more`` are other eras with the same columns: their correlations are averaged in, which
    beats down sampling error (and any noise the publisher added).
    """
    eras = [bins, *(more or [])]
    corr = sum((_abs_corr(b) for b in eras), np.zeros((bins.shape[1],) * 2)) / len(eras)
    np.fill_diagonal(corr, 0.0)
    profile = -np.sort(-corr, axis=1)
    scale = np.sqrt((profile * profile).sum(axis=1, keepdims=True))
    profile /= np.where(scale > 0, scale, 1.0)
    middle = (bins == MISSING_BIN).mean(axis=0)[:, None]
    out: np.ndarray = np.hstack([profile, middle])
    return out


def match_columns(
    published: npt.NDArray[np.integer],
    own: npt.NDArray[np.integer],
    *,
    more_published: list[npt.NDArray[np.integer]] | None = None,
) -> npt.NDArray[np.intp]:
    """For each published column, the own column it is paired with (one to one).

    Both are (rows × columns) bin matrices of the same era; rows need not be aligned.
    ``more_published``: other published eras (same columns) to average the signatures over.
    """
    if published.shape[1] != own.shape[1]:
        raise InvalidInputError(
            f"{published.shape[1]} published columns but {own.shape[1]} recomputed ones"
        )
    a, b = _signatures(published, more_published), _signatures(own)
    cost = np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    out = np.empty(published.shape[1], dtype=np.intp)
    out[rows] = cols
    return out


def _distances(a: npt.NDArray[np.integer], b: npt.NDArray[np.integer]) -> np.ndarray:
    """L1 distances between the rows of ``a`` and of ``b``, in chunks of ``a``'s rows."""
    a16, b16 = a.astype(np.int16), b.astype(np.int16)
    step = max(1, _CHUNK_BYTES // max(1, 2 * b.shape[0] * b.shape[1]))
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.int32)
    for lo in range(0, a.shape[0], step):
        block = np.abs(a16[lo : lo + step, None, :] - b16[None, :, :])
        out[lo : lo + step] = block.sum(axis=2, dtype=np.int32)
    return out


def match_rows(
    published: npt.NDArray[np.integer], own: npt.NDArray[np.integer]
) -> npt.NDArray[np.intp]:
    """For each published row, the own row it is paired with (−1 if none is left).

    One-to-one pairing of minimum total L1 distance; columns must already be aligned.
    """
    if published.shape[1] != own.shape[1]:
        raise InvalidInputError("published and own rows must have the same columns")
    rows, cols = linear_sum_assignment(_distances(published, own))
    out = np.full(published.shape[0], -1, dtype=np.intp)
    out[rows] = cols
    return out


def match_rows_likelihood(
    published: npt.NDArray[np.integer], own: npt.NDArray[np.floating], noise: float
) -> npt.NDArray[np.intp]:
    """Pair published rows with own rows by the likelihood of their bins under ``noise``.

    ``published`` is (rows × composites) bins; ``own`` the (rows × composites) z-scored
    composites the attacker computed. A published bin is the quintile of ``own + noise ×
    N(0, 1)`` within the era, so its probability given an own value follows from the
    quintile edges of that mixture. One-to-one pairing of maximum total log-likelihood.
    """
    if published.shape[1] != own.shape[1] or noise <= 0:
        raise InvalidInputError("published and own rows need the same columns and noise > 0")
    z = np.asarray(own, dtype=np.float64)
    grid = ndtri((np.arange(64) + 0.5) / 64)
    cost = np.zeros((published.shape[0], z.shape[0]))
    for j in range(z.shape[1]):
        mixture = (z[None, :, j] + noise * grid[:, None]).ravel()
        edges = np.quantile(mixture, np.arange(1, N_BINS) / N_BINS)
        edges = np.concatenate([[-np.inf], edges, [np.inf]])
        b = published[:, j].astype(np.intp)
        lo = (edges[b][:, None] - z[None, :, j]) / noise
        hi = (edges[b + 1][:, None] - z[None, :, j]) / noise
        cost -= np.log(np.maximum(ndtr(hi) - ndtr(lo), 1e-12))
    rows, cols = linear_sum_assignment(cost)
    out = np.full(published.shape[0], -1, dtype=np.intp)
    out[rows] = cols
    return out


def estimate_mix(
    published: list[tuple[npt.NDArray[np.integer], npt.NDArray[np.floating]]],
    own: list[tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]],
    *,
    ridge: float = 1e-3,
) -> np.ndarray:
    """Estimate each published column's weights on the features from target covariances.

    Per era, ``published`` holds (rows × columns bins, rows × targets) and ``own`` (features
    × rows centred ranks, rows × targets) — rows aligned within each, not across. Targets
    are in {0, …, 1}, NaN where unknown. Returns ``(columns, features)``: the ridge solution
    of ``cov(published, targets) ≈ W · cov(features, targets)`` over all eras (``ridge`` is
    relative to the mean eigenvalue).
    """
    if len(published) != len(own) or not published:
        raise InvalidInputError("estimate_mix needs the same eras, at least one, on both sides")
    k, f = published[0][0].shape[1], own[0][0].shape[0]
    lhs = np.zeros((f, f))
    rhs = np.zeros((k, f))
    for (bins, y_pub), (ranks, y_own) in zip(published, own, strict=True):
        yp = np.nan_to_num(np.asarray(y_pub, dtype=np.float64) - 0.5)
        yo = np.nan_to_num(np.asarray(y_own, dtype=np.float64) - 0.5)
        m_pub = (bins.astype(np.float64) - 2.0).T @ yp / max(1, len(yp))
        m_own = ranks @ yo / max(1, len(yo))
        lhs += m_own @ m_own.T
        rhs += m_pub @ m_own.T
    penalty = ridge * max(float(np.trace(lhs)) / f, 1e-300)
    out: np.ndarray = np.linalg.solve(lhs + penalty * np.eye(f), rhs.T).T
    return out


def _feature_columns(public_dir: Path) -> list[str]:
    meta = json.loads((public_dir / "features.json").read_text())
    return list(meta["feature_sets"]["all"])


def _era_groups(path: Path, count: int, columns: list[str]) -> list[pd.DataFrame]:
    """The last ``count`` eras of a split file (one Parquet row group per era)."""
    file = pq.ParquetFile(path)
    first = max(0, file.num_row_groups - count)
    return [
        file.read_row_group(i, columns=["id", "era", *columns]).to_pandas()
        for i in range(first, file.num_row_groups)
    ]


def audit_round(
    prices: pd.DataFrame,
    public_dir: str | Path,
    operator_dir: str | Path,
    vault: Vault,
    *,
    features: FeatureConfig | None = None,
    targets: TargetConfig | None = None,
    linkage_pairs: int = 4,
    column_eras: int = 20,
    moment_eras: int = 0,
    known_mix: Mix | None = None,
    known_noise: float | None = None,
    history_eras: int = 0,
    progress: Progress | None = None,
) -> AuditReport:
    """Attack a round's public files with the public prices; score it with the operator's maps.

    ``prices`` is the validated price frame the round was built from; ``vault`` is used only
    for the ground truth, never by the attacks. The column attack runs when the round
    publishes as many columns as the features; the *moments* attack runs when it does not
    (or whenever ``moment_eras`` > 0) over the last ``moment_eras`` published eras with
    known targets (0: all of them); ``known_mix`` (and ``known_noise``) add the attacks that
    hold the operator's mix. The report's rate is the best attack's. ``history_eras`` > 0
    also attacks the last validation eras, each as if it were live (more rows, a tighter
    estimate of the rate; truth from the vault's ids).
    """
    if min(linkage_pairs, column_eras, moment_eras, history_eras) < 0:
        raise InvalidParameterError(
            "linkage_pairs, column_eras, moment_eras and history_eras must not be negative"
        )
    public, operator = Path(public_dir), Path(operator_dir)
    for needed in (public / "features.json", public / "live.parquet"):
        if not needed.exists():
            raise InvalidInputError(f"{needed} is missing: {public} holds no complete round")
    if not (operator / "live_ids.parquet").exists():
        raise InvalidInputError(f"{operator} holds no live_ids.parquet: not an operator folder")
    cfg = features if features is not None else FeatureConfig()
    columns = _feature_columns(public)
    live_ids = pd.read_parquet(operator / "live_ids.parquet")
    date = pd.Timestamp(live_ids["date"].iloc[0])
    days = pd.DatetimeIndex(np.unique(prices["date"].to_numpy()))
    history = cfg.longest_window() + 1 + 5 * max(cfg.lags) + 10
    start = days[max(0, int(days.get_indexer(pd.DatetimeIndex([date]))[0]) - history)]
    window = prices[(prices["date"] >= start) & (prices["date"] <= date)].reset_index(drop=True)
    raw = FeatureEngine(window, cfg).era(date)
    use_columns = len(raw.columns) == len(columns)
    use_moments = not use_columns or moment_eras > 0
    total = 1 + use_columns + use_moments + (known_mix is not None) + linkage_pairs
    step = 0

    def tick() -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(step, total)

    # 1. recompute the live era's features, as anyone with the prices can
    live = pd.read_parquet(public / "live.parquet", columns=columns)
    truth = live_ids.set_index("id")["ticker"]
    # the eras attacked: the live one, then (if asked) validation eras as if each were live
    attacked: list[tuple[np.ndarray, pd.DataFrame, np.ndarray]] = [
        (live.to_numpy(dtype=np.int8), raw, truth.reindex(live.index).to_numpy(dtype=object))
    ]
    if history_eras > 0 and (public / "validation.parquet").exists():
        era_dates = _era_dates(operator)
        engine = FeatureEngine(prices, cfg)
        for group in _era_groups(public / "validation.parquet", history_eras, columns):
            day = era_dates[str(group["era"].iloc[0])]
            attacked.append(
                (
                    group[columns].to_numpy(np.int8),
                    engine.era(day),
                    _identities(prices, vault, day, group.index),
                )
            )
    attacks: dict[str, int] = {}

    def score(name: str, era: int, row_of: npt.NDArray[np.intp]) -> None:
        tickers = np.asarray(attacked[era][1].index, dtype=object)
        guessed = tickers[np.maximum(row_of, 0)]
        guessed[row_of < 0] = None
        attacks[name] = attacks.get(name, 0) + int(np.sum(guessed == attacked[era][2]))

    tick()
    columns_matched = float("nan")
    if use_columns:
        # 2. pair the opaque columns with own features (on the live era), 3. pair rows
        published = attacked[0][0]
        more: list[npt.NDArray[np.integer]] = []
        if column_eras > 0 and (public / "validation.parquet").exists():
            more = [
                g[columns].to_numpy(np.int8)
                for g in _era_groups(public / "validation.parquet", column_eras, columns)
            ]
        own = quantile_bins(np.ascontiguousarray(raw.to_numpy(dtype=np.float64).T)).T
        col_of = match_columns(published, own, more_published=more)
        names_path = operator / "feature_names.json"
        if names_path.exists():
            real = json.loads(names_path.read_text())
            own_names = np.asarray(raw.columns, dtype=object)
            columns_matched = float(
                np.mean([real[c] == own_names[j] for c, j in zip(columns, col_of, strict=True)])
            )
        for i, (published, frame, _) in enumerate(attacked):
            own = quantile_bins(np.ascontiguousarray(frame.to_numpy(dtype=np.float64).T)).T
            score("columns", i, match_rows(published, own[:, col_of]))
        tick()
    if use_moments:
        weights = _moment_weights(prices, public, operator, columns, cfg, targets, moment_eras)
        for i, (published, frame, _) in enumerate(attacked):
            ranks = centred_ranks(np.ascontiguousarray(frame.to_numpy(dtype=np.float64).T))
            score("moments", i, match_rows(published, quantile_bins(weights @ ranks).T))
        tick()
    if known_mix is not None:
        if known_mix.weights.shape[0] != len(columns):
            raise InvalidInputError(
                f"the known mix has {known_mix.weights.shape[0]} composites, "
                f"the round {len(columns)} columns"
            )
        real_names = json.loads((operator / "feature_names.json").read_text())
        order = [known_mix.names.index(real_names[c]) for c in columns]
        for i, (published, frame, _) in enumerate(attacked):
            values = np.ascontiguousarray(frame.to_numpy(dtype=np.float64).T)
            z = known_mix.composites(values, list(frame.columns))[order]
            score("known mix", i, match_rows(published, quantile_bins(z).T))
            if known_noise is not None and known_noise > 0:
                row_of = match_rows_likelihood(published, z.T, known_noise)
                score("known mix, likelihood", i, row_of)
        tick()
    # cross-era linkage on published validation eras alone
    pairs = rows_compared = linked = 0
    if linkage_pairs > 0 and (public / "validation.parquet").exists():
        era_date = _era_dates(operator)
        groups = _era_groups(public / "validation.parquet", linkage_pairs + 1, columns)

        def identities(frame: pd.DataFrame) -> np.ndarray:
            return _identities(prices, vault, era_date[str(frame["era"].iloc[0])], frame.index)

        for before, after in itertools.pairwise(groups):
            match = match_rows(after[columns].to_numpy(np.int8), before[columns].to_numpy(np.int8))
            who_after, who_before = identities(after), identities(before)
            hit = (match >= 0) & (who_after == who_before[np.maximum(match, 0)])
            linked += int(np.sum(hit & (who_after != None)))  # noqa: E711 - object array
            rows_compared += len(after)
            pairs += 1
            tick()
    if progress is not None and step < total:
        progress(total, total)
    return AuditReport(
        live_rows=sum(len(t[0]) for t in attacked),
        reidentified=max(attacks.values(), default=0),
        columns_matched=columns_matched,
        linkage_pairs=pairs,
        linkage_rows=rows_compared,
        linked=linked,
        attacks=attacks,
        eras_attacked=len(attacked),
    )


def _era_dates(operator: Path) -> dict[str, pd.Timestamp]:
    """Published era label → date (the operator's map; public in effect: eras are weeks)."""
    eras = pd.read_parquet(operator / "eras.parquet")
    return dict(zip(eras["era"], pd.to_datetime(eras["date"]), strict=True))


def _identities(prices: pd.DataFrame, vault: Vault, day: pd.Timestamp, ids: pd.Index) -> np.ndarray:
    """The true ticker of each published history id of an era (None if unknown)."""
    listed = [str(t) for t in np.unique(prices.loc[prices["date"] == day, "ticker"].to_numpy())]
    known = dict(zip(vault.row_ids(day, listed), listed, strict=True))
    return np.asarray([known.get(str(i)) for i in ids], dtype=object)


def _moment_weights(
    prices: pd.DataFrame,
    public: Path,
    operator: Path,
    columns: list[str],
    features: FeatureConfig,
    targets: TargetConfig | None,
    count: int,
) -> np.ndarray:
    """The moments attack's estimate of each published column's feature weights.

    Eras are dated from the operator's ``eras.parquet`` — public knowledge in effect: eras
    are consecutive weeks ending at the live one.
    """
    meta = json.loads((public / "features.json").read_text())
    target_names = list(meta.get("targets", ["target"]))
    era_date = _era_dates(operator)
    groups: list[pd.DataFrame] = []
    for split in ("train", "validation"):
        path = public / f"{split}.parquet"
        if path.exists():
            file = pq.ParquetFile(path)
            groups += [
                file.read_row_group(i, columns=["era", *columns, *target_names]).to_pandas()
                for i in range(file.num_row_groups)
            ]
    if count > 0:
        groups = groups[-count:]
    if not groups:
        raise InvalidInputError(f"{public} has no era with known targets to attack with")
    dates = [era_date[str(g["era"].iloc[0])] for g in groups]
    engine = FeatureEngine(prices, features)
    target_engine = TargetEngine(prices, targets, features=engine)
    pub: list[tuple[npt.NDArray[np.integer], npt.NDArray[np.floating]]] = []
    own: list[tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]] = []
    for group, day in zip(groups, dates, strict=True):
        frame = engine.era(day)
        ys = target_engine.era(day).reindex(frame.index)
        pub.append((group[columns].to_numpy(np.int8), group[target_names].to_numpy(np.float64)))
        ranks = centred_ranks(np.ascontiguousarray(frame.to_numpy(np.float64).T))
        own.append((ranks, ys[target_names].to_numpy(np.float64)))
    return estimate_mix(pub, own)


def example_model_corr(public_dir: str | Path, *, ridge: float = 10.0) -> float:
    """Validation CORR (mean per era) of the example model: ridge on centred bins.

    Trained on the round's train rows with a known target (penalty ``ridge`` × rows), scored
    with :func:`crowdalpha.scoring.numerai_corr_by_era` on validation — the model of the
    build tests, so modes can be compared by what they cost it.
    """
    from crowdalpha import scoring
    from crowdalpha.dataset.example import fit_example_model, predict_file

    public = Path(public_dir)
    model = fit_example_model(public, ridge=ridge)
    preds = predict_file(model, public / "validation.parquet")
    validation = pd.read_parquet(public / "validation.parquet", columns=["target"])
    per_era = scoring.numerai_corr_by_era(
        preds[["prediction"]].rename(columns={"prediction": "ridge"}),
        validation["target"].reindex(preds.index),
        preds["era"],
    )
    return float(per_era["ridge"].mean())
