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
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq
from scipy.optimize import linear_sum_assignment

from crowdalpha.dataset.features import FeatureConfig, FeatureEngine
from crowdalpha.dataset.obfuscate import MISSING_BIN, Vault, quantile_bins
from crowdalpha.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "AuditReport",
    "audit_round",
    "example_model_corr",
    "match_columns",
    "match_rows",
]

Progress = Callable[[int, int], None]
#: Bytes of the int16 difference block one chunk of the row distances may use.
_CHUNK_BYTES = 1 << 25


@dataclass(frozen=True)
class AuditReport:
    """What the attacker achieved on one round."""

    #: Live rows attacked, and how many were paired with their true ticker.
    live_rows: int
    reidentified: int
    #: Published columns paired with their true feature (a diagnostic of step 2).
    columns_matched: float
    #: Pairs of consecutive validation eras attacked, rows compared and rows linked rightly.
    linkage_pairs: int
    linkage_rows: int
    linked: int

    @property
    def reidentification_rate(self) -> float:
        return self.reidentified / self.live_rows if self.live_rows else float("nan")

    @property
    def chance(self) -> float:
        """The rate of a random one-to-one guess: one over the live rows."""
        return 1.0 / self.live_rows if self.live_rows else float("nan")

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
    linkage_pairs: int = 4,
    column_eras: int = 20,
    progress: Progress | None = None,
) -> AuditReport:
    """Attack a round's public files with the public prices; score it with the operator's maps.

    ``prices`` is the validated price frame the round was built from; ``vault`` is used only
    for the ground truth of the cross-era linkage, never by the attack.
    """
    if linkage_pairs < 0 or column_eras < 0:
        raise InvalidParameterError("linkage_pairs and column_eras must not be negative")
    public, operator = Path(public_dir), Path(operator_dir)
    for needed in (public / "features.json", public / "live.parquet"):
        if not needed.exists():
            raise InvalidInputError(f"{needed} is missing: {public} holds no complete round")
    if not (operator / "live_ids.parquet").exists():
        raise InvalidInputError(f"{operator} holds no live_ids.parquet: not an operator folder")
    cfg = features if features is not None else FeatureConfig()
    columns = _feature_columns(public)
    total = 3 + linkage_pairs
    step = 0

    def tick() -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(step, total)

    # 1. recompute the live era's features, as anyone with the prices can
    live = pd.read_parquet(public / "live.parquet", columns=columns)
    truth = pd.read_parquet(operator / "live_ids.parquet").set_index("id")["ticker"]
    date = pd.Timestamp(pd.read_parquet(operator / "live_ids.parquet")["date"].iloc[0])
    days = pd.DatetimeIndex(np.unique(prices["date"].to_numpy()))
    history = cfg.longest_window() + 1 + 5 * max(cfg.lags) + 10
    start = days[max(0, int(days.get_indexer(pd.DatetimeIndex([date]))[0]) - history)]
    window = prices[(prices["date"] >= start) & (prices["date"] <= date)].reset_index(drop=True)
    engine = FeatureEngine(window, cfg)
    raw = engine.era(date)
    if len(raw.columns) != len(columns):
        raise InvalidInputError(
            f"the feature config gives {len(raw.columns)} features, the round has {len(columns)}"
        )
    own = quantile_bins(np.ascontiguousarray(raw.to_numpy(dtype=np.float64).T)).T
    tickers = np.asarray(raw.index, dtype=object)
    published = live.to_numpy(dtype=np.int8)
    tick()
    # 2. pair the opaque columns with own features
    more: list[npt.NDArray[np.integer]] = []
    if column_eras > 0 and (public / "validation.parquet").exists():
        more = [
            g[columns].to_numpy(np.int8)
            for g in _era_groups(public / "validation.parquet", column_eras, columns)
        ]
    col_of = match_columns(published, own, more_published=more)
    names_path = operator / "feature_names.json"
    columns_matched = float("nan")
    if names_path.exists():
        real = json.loads(names_path.read_text())
        own_names = np.asarray(raw.columns, dtype=object)
        columns_matched = float(
            np.mean([real[c] == own_names[j] for c, j in zip(columns, col_of, strict=True)])
        )
    tick()
    # 3. pair rows with tickers
    own_aligned = own[:, col_of]
    row_of = match_rows(published, own_aligned)
    guessed = tickers[np.maximum(row_of, 0)]
    guessed[row_of < 0] = None
    actual = truth.reindex(live.index).to_numpy(dtype=object)
    reidentified = int(np.sum(guessed == actual))
    tick()
    # cross-era linkage on published validation eras alone
    pairs = rows_compared = linked = 0
    if linkage_pairs > 0 and (public / "validation.parquet").exists():
        eras = pd.read_parquet(operator / "eras.parquet")
        era_date = dict(zip(eras["era"], pd.to_datetime(eras["date"]), strict=True))
        groups = _era_groups(public / "validation.parquet", linkage_pairs + 1, columns)
        by_date = {d: g["ticker"].to_numpy(dtype=object) for d, g in prices.groupby("date")}

        def identities(frame: pd.DataFrame) -> np.ndarray:
            day = era_date[str(frame["era"].iloc[0])]
            listed = [str(t) for t in by_date.get(day, [])]
            ids = dict(zip(vault.row_ids(day, listed), listed, strict=True))
            return np.asarray([ids.get(str(i)) for i in frame.index], dtype=object)

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
        live_rows=len(live),
        reidentified=reidentified,
        columns_matched=columns_matched,
        linkage_pairs=pairs,
        linkage_rows=rows_compared,
        linked=linked,
    )


def example_model_corr(public_dir: str | Path, *, ridge: float = 10.0) -> float:
    """Validation CORR (mean per era) of the example model: ridge on centred bins.

    Trained on the round's train rows with a known target (penalty ``ridge`` × rows), scored
    with :func:`crowdalpha.scoring.numerai_corr_by_era` on validation — the model of the
    build tests, so modes can be compared by what they cost it.
    """
    from crowdalpha import scoring

    public = Path(public_dir)
    if ridge <= 0:
        raise InvalidParameterError("ridge must be positive")
    columns = _feature_columns(public)
    train = pd.read_parquet(public / "train.parquet", columns=[*columns, "target"])
    train = train.dropna(subset=["target"])
    x = train[columns].to_numpy(np.float32) - 2.0
    y = train["target"].to_numpy(np.float64) - 0.5
    del train
    gram = (x.T @ x).astype(np.float64) + ridge * len(x) * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x.T.astype(np.float64) @ y)
    del x
    validation = pd.read_parquet(public / "validation.parquet", columns=[*columns, "target", "era"])
    preds = pd.DataFrame(
        {"ridge": (validation[columns].to_numpy(np.float32) - 2.0) @ weights},
        index=validation.index,
    )
    per_era = scoring.numerai_corr_by_era(preds, validation["target"], validation["era"])
    return float(per_era["ridge"].mean())
