"""Near-identical submissions within a round: clusters of models whose predictions have a
rank (Spearman) correlation at or above a threshold — copies, copies with a little noise
added, rank-preserving transforms (``p²``, ``log p``, a re-ranking) — to find one
participant's models spread over several accounts (sybils) or copy bots.

The whole round is one blocked matrix product. Each model's predictions become ranks
(ties averaged, as pandas' ``rank(method="average")``), centred and scaled to unit length,
so that the Spearman correlation of two models is the dot product of their rows; with the
rows ``Z`` (models × ids, float32) the correlations are ``Z Zᵀ``, computed a block of rows
at a time and only on and above the diagonal, keeping the pairs at or above the threshold.
Pairs near the threshold are checked again in float64, so the answer does not depend on
the BLAS library's float32 rounding. Linked pairs are joined into clusters (connected
components: single linkage, so a chain of copies is one cluster even when its two ends
correlate a little less). 10,000 models × 5,000 ids take a few seconds on two cores
(``benchmarks/duplicates.py``).

Only positive correlation links models: a model and its mirror image (``1 − p``) hedge
each other rather than double a stake. Missing predictions (NaN, when models cover
different ids) count as the middle rank, so two copies with the same gaps still correlate
exactly 1; constant predictions carry no ranking and form one cluster of their own.

The pure function is :func:`find_duplicates`; what to do about a cluster spread over
several accounts (report it, or treat it as one stake) is the tournament's policy.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from crowdalpha.errors import (
    DegenerateDataError,
    DuplicateIdsError,
    InvalidInputError,
    InvalidParameterError,
    ScoringInputError,
)
from crowdalpha.scoring.kernels import Segments, _cpu_count, tie_kept_rank

__all__ = [
    "DEFAULT_DUPLICATE_THRESHOLD",
    "DuplicateCluster",
    "DuplicateReport",
    "find_duplicates",
    "rank_correlation_links",
    "standardized_ranks",
]

#: Rank correlation at or above which two submissions count as near-identical.
DEFAULT_DUPLICATE_THRESHOLD = 0.99
#: Models per block of the product: 1,024 × 10,000 float32 correlations are 40 MB.
_BLOCK = 1024
#: Models ranked at once, per thread (temporaries: a few times this × ids × 8 bytes).
_RANK_CHUNK = 256
#: Float32 correlations closer than this to the threshold are recomputed in float64.
#: A float32 dot product of unit vectors over n ids is off by about sqrt(n) × 6e-8
#: (4e-6 for 5,000 ids, 2e-5 for 100,000): 1e-3 is far outside that spread.
_RECHECK_BAND = 1e-3

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DuplicateCluster:
    """Models whose predictions are near-identical, linked pair by pair.

    ``models`` are in the order of the predictions' columns; ``accounts`` are their
    distinct owners in the same order (empty when no owners were given).
    ``min_correlation`` is the weakest link that joined the cluster (at least the
    threshold), ``max_correlation`` the strongest; both are 1.0 for a cluster of
    constant predictions (``constant``).
    """

    models: tuple[Hashable, ...]
    accounts: tuple[Hashable, ...]
    min_correlation: float
    max_correlation: float
    constant: bool = False

    @property
    def across_accounts(self) -> bool:
        """Whether the cluster spans more than one account (a possible sybil)."""
        return len(self.accounts) > 1


@dataclass(frozen=True)
class DuplicateReport:
    """A round's clusters of near-identical submissions, largest first."""

    threshold: float
    models: int
    links: int
    clusters: tuple[DuplicateCluster, ...]

    @property
    def across_accounts(self) -> tuple[DuplicateCluster, ...]:
        """The clusters spread over several accounts."""
        return tuple(c for c in self.clusters if c.across_accounts)

    def cluster_of(self, model: Hashable) -> DuplicateCluster | None:
        """The cluster ``model`` belongs to, or None when it has no near-identical peer."""
        return next((c for c in self.clusters if model in c.models), None)


# -- numpy kernels -------------------------------------------------------------------------


def standardized_ranks(x: npt.ArrayLike) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Each row of ``x`` (models × ids) as centred ranks of unit length, in float32, so that
    the dot product of two rows is their Spearman correlation; and which rows are constant
    (all equal, or all NaN: no ranking, left as zeros). NaN ranks as the row's middle.

    Rows without ties or NaN — most submissions — are one ``argsort`` each: their centred
    ranks are the same vector, scattered into place. The others go through
    :func:`~crowdalpha.scoring.kernels.tie_kept_rank` (ties averaged). Blocks of rows run on
    every core (numpy's sort releases the GIL).
    """
    values = np.asarray(x, dtype=np.float64)
    if values.ndim != 2:
        raise InvalidInputError(f"expected a (models × ids) matrix, got shape {values.shape}")
    k, n = values.shape
    if n < 2:  # nothing to rank
        return np.zeros((k, n), dtype=np.float32), np.ones(k, dtype=bool)
    out = np.empty((k, n), dtype=np.float32)
    constant = np.zeros(k, dtype=bool)
    line = np.arange(n, dtype=np.float64) - (n - 1) / 2
    line /= max(float(np.sqrt(line @ line)), 1.0)
    tie_free = np.broadcast_to(line.astype(np.float32), (_RANK_CHUNK, n))

    def rank_block(start: int) -> None:
        stop = min(start + _RANK_CHUNK, k)
        chunk = np.ascontiguousarray(values[start:stop])
        order = np.argsort(chunk, axis=1)
        ordered = np.take_along_axis(chunk, order, axis=1)
        slow = np.isnan(ordered[:, -1]) | (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        block = out[start:stop]
        np.put_along_axis(block, order, tie_free[: stop - start], axis=1)
        if slow.any():
            block[slow], constant[start:stop][slow] = _ranks_with_ties(chunk[slow])

    starts = range(0, k, _RANK_CHUNK)
    workers = min(_cpu_count(), len(starts))
    if workers < 2:
        for start in starts:
            rank_block(start)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for done in [pool.submit(rank_block, start) for start in starts]:
                done.result()
    return out, constant


def _ranks_with_ties(
    chunk: FloatArray,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Centred unit-length ranks of rows with ties or NaN, and which rows are constant."""
    n = chunk.shape[1]
    ranks = tie_kept_rank(np.ascontiguousarray(chunk), Segments.single(n))
    present = ~np.isnan(ranks)
    counts = np.maximum(present.sum(axis=1, keepdims=True), 1)  # an all-NaN row: 0 / 1
    centred = np.where(present, ranks - np.nansum(ranks, axis=1, keepdims=True) / counts, 0.0)
    norms = np.sqrt(np.einsum("ij,ij->i", centred, centred))
    flat = norms <= 1e-12 * n
    norms[flat] = 1.0
    return (centred / norms[:, None]).astype(np.float32), flat


def rank_correlation_links(
    z: npt.NDArray[np.float32],
    threshold: float,
    *,
    skip: npt.NDArray[np.bool_] | None = None,
    block: int = _BLOCK,
) -> tuple[IntArray, IntArray, FloatArray]:
    """The pairs ``i < j`` of rows of ``z`` (from :func:`standardized_ranks`) whose
    correlation is at least ``threshold``, with that correlation; rows flagged in
    ``skip`` are left out. One product ``z zᵀ``, ``block`` rows at a time, upper
    triangle only; pairs within ``_RECHECK_BAND`` of the threshold are recomputed in
    float64 before they are kept or dropped."""
    k = z.shape[0]
    keep = np.ones(k, dtype=bool) if skip is None else ~skip
    firsts: list[IntArray] = []
    seconds: list[IntArray] = []
    values: list[FloatArray] = []
    cut = np.float32(threshold - _RECHECK_BAND)
    for start in range(0, k, block):
        stop = min(start + block, k)
        corr = z[start:stop] @ z[start:].T  # rows start..stop against columns start..k
        i, j = np.nonzero(corr >= cut)
        j = j + start
        i = i + start
        upper = (j > i) & keep[i] & keep[j]
        i, j = i[upper], j[upper]
        rho = corr[i - start, j - start].astype(np.float64)
        near = np.abs(rho - threshold) < _RECHECK_BAND
        if near.any():  # in float64, as a cosine: identical rows give exactly 1.0
            a = z[i[near]].astype(np.float64)
            b = z[j[near]].astype(np.float64)
            dots = np.einsum("ij,ij->i", a, b)
            rho[near] = dots / np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
        hit = rho >= threshold
        firsts.append(i[hit].astype(np.int64))
        seconds.append(j[hit].astype(np.int64))
        values.append(np.minimum(rho[hit], 1.0))
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float64)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(values)


# -- the DataFrame-facing function ---------------------------------------------------------


def _checked(predictions: object, threshold: object, block: object) -> pd.DataFrame:
    if not isinstance(predictions, pd.DataFrame):
        raise InvalidInputError(
            "predictions must be a pandas DataFrame (one row per id, one column per model), "
            f"not {type(predictions)!r}"
        )
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not 0.0 < float(threshold) <= 1.0
    ):
        raise InvalidParameterError(
            f"the duplicate threshold must be a rank correlation in (0, 1], got {threshold!r}",
            details={"threshold": str(threshold)},
        )
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise InvalidParameterError(f"block must be a positive integer, got {block!r}")
    if not predictions.columns.is_unique:
        dupes = predictions.columns[predictions.columns.duplicated()].unique()[:5].tolist()
        raise ScoringInputError(
            f"predictions name a model more than once (e.g. {dupes}); one column per model",
            details={"examples": [str(d) for d in dupes]},
        )
    if not predictions.index.is_unique:
        dupes = predictions.index[predictions.index.duplicated()].unique()[:5].tolist()
        raise DuplicateIdsError(
            f"predictions have duplicated ids (e.g. {dupes}); every id must appear once",
            details={"examples": [str(d) for d in dupes]},
        )
    if len(predictions.index) < 2:
        raise DegenerateDataError("rank correlations need at least two ids")
    return predictions


def find_duplicates(
    predictions: pd.DataFrame,
    *,
    owners: Mapping[Hashable, Hashable] | pd.Series | None = None,
    threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
    block: int = _BLOCK,
) -> DuplicateReport:
    """Clusters of near-identical submissions in one round.

    ``predictions``: one row per id, one column per model (as
    :func:`crowdalpha.scoring.stake_weight` takes them); ``owners``: each model's
    account, so that clusters spread over several accounts can be told apart. Two
    models are linked when the rank correlation of their predictions is at least
    ``threshold``; clusters are the connected groups of linked models, largest first.
    ``block`` models are correlated at a time (it changes the memory used, never the
    result).
    """
    frame = _checked(predictions, threshold, block)
    models: list[Hashable] = list(frame.columns)
    try:
        values = frame.to_numpy(dtype=np.float64).T
    except (TypeError, ValueError):
        raise ScoringInputError("predictions must be numbers") from None
    if np.isinf(values).any():
        raise ScoringInputError("predictions must be finite numbers (no infinity)")
    z, constant = standardized_ranks(values)
    first, second, rho = rank_correlation_links(z, float(threshold), skip=constant, block=block)
    k = len(models)
    graph = coo_matrix((np.ones(len(rho)), (first, second)), shape=(k, k))
    _, labels = connected_components(graph, directed=False)
    weakest: dict[int, float] = {}
    strongest: dict[int, float] = {}
    for label, value in zip(labels[first].tolist(), rho.tolist(), strict=True):
        weakest[label] = min(weakest.get(label, 1.0), value)
        strongest[label] = max(strongest.get(label, -1.0), value)
    owner_of = _owners(owners, models)
    clusters = [
        _cluster([models[i] for i in members], owner_of, owners is not None, low, high, flat)
        for members, low, high, flat in _groups(labels, constant, weakest, strongest)
    ]
    clusters.sort(key=lambda c: (-len(c.models), -c.min_correlation))
    return DuplicateReport(float(threshold), k, len(rho), tuple(clusters))


def _owners(
    owners: Mapping[Hashable, Hashable] | pd.Series | None, models: list[Hashable]
) -> dict[Hashable, Hashable]:
    if owners is None:
        return {}
    owner_of = dict(owners.items())
    missing = [m for m in models if m not in owner_of]
    if missing:
        raise InvalidParameterError(
            f"owners lacks the account of {len(missing)} model(s), e.g. {missing[:5]}",
            details={"examples": [str(m) for m in missing[:5]]},
        )
    return owner_of


def _groups(
    labels: npt.NDArray[np.int32],
    constant: npt.NDArray[np.bool_],
    weakest: dict[int, float],
    strongest: dict[int, float],
) -> list[tuple[list[int], float, float, bool]]:
    """(member positions, weakest link, strongest link, constant) of every cluster."""
    groups: list[tuple[list[int], float, float, bool]] = []
    flat = np.flatnonzero(constant).tolist()
    if len(flat) > 1:
        groups.append((flat, 1.0, 1.0, True))
    for label in sorted(weakest):
        members = np.flatnonzero(labels == label).tolist()
        groups.append((members, weakest[label], strongest[label], False))
    return groups


def _cluster(
    members: list[Hashable],
    owner_of: Mapping[Hashable, Hashable],
    with_owners: bool,
    low: float,
    high: float,
    flat: bool,
) -> DuplicateCluster:
    accounts: list[Hashable] = []
    if with_owners:
        for model in members:
            account = owner_of[model]
            if account not in accounts:
                accounts.append(account)
    return DuplicateCluster(tuple(members), tuple(accounts), low, high, constant=flat)
