"""Numpy kernels that score many submissions over many eras at once.

Layout used throughout: a matrix ``X`` of shape ``(k, n)`` holds one submission per row and
one data row per column, C-contiguous, with the data rows grouped by era — era ``e`` occupies
columns ``seg.starts[e]:seg.starts[e + 1]`` (:class:`Segments`). Per-era results come back
as ``(k, n_eras)`` matrices. Nothing here knows about pandas, ids or alignment: the
DataFrame-facing functions in :mod:`crowdalpha.scoring.metrics` clean and align the inputs,
then call these kernels once for all submissions and all eras.

The arithmetic reproduces numerai-tools 0.7.2 step for step where the result depends on it
(tie-kept ranks are bit-identical, so are the Gaussian and power transforms), and uses faster
but equivalent algebra elsewhere (Pearson and projections through sums per era, least
squares through the normal equations with a fall-back to the reference's SVD solver).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special
from scipy.linalg import lapack
from threadpoolctl import ThreadpoolController

from crowdalpha.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The relative cut-off numerai-tools passes to ``np.linalg.lstsq`` when neutralizing.
LSTSQ_RCOND = 1e-6
#: Below this reciprocal condition number of the centred Gram matrix the normal equations are
#: not trusted and the era is solved with the reference's SVD-based least squares instead.
_GRAM_RCOND_FALLBACK = 1e-10
#: Below this one, one step of iterative refinement is applied to the normal-equation solution.
_GRAM_RCOND_REFINE = 1e-6
#: Sorting this many rows or more is split over threads (numpy's sort releases the GIL).
_PARALLEL_MIN_ROWS = 64


@dataclass(frozen=True)
class Segments:
    """Contiguous, non-empty eras along the data axis: era ``e`` is ``starts[e]:starts[e+1]``."""

    starts: IntArray

    @classmethod
    def single(cls, n: int) -> Segments:
        return cls(np.array([0, n], dtype=np.int64))

    @classmethod
    def from_lengths(cls, lengths: npt.ArrayLike) -> Segments:
        lens = np.asarray(lengths, dtype=np.int64)
        return cls(np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))

    def __post_init__(self) -> None:
        if self.starts.ndim != 1 or self.starts.size < 2 or self.starts[0] != 0:
            raise InvalidInputError("segment starts must begin at 0 and hold at least one era")
        if np.any(np.diff(self.starts) <= 0):
            raise InvalidInputError("every era must hold at least one row")

    @property
    def n_eras(self) -> int:
        return int(self.starts.size - 1)

    @property
    def n(self) -> int:
        return int(self.starts[-1])

    @cached_property
    def lengths(self) -> IntArray:
        return np.diff(self.starts)

    @cached_property
    def ids(self) -> npt.NDArray[np.intp]:
        """The era number of every data column."""
        return np.repeat(np.arange(self.n_eras, dtype=np.intp), self.lengths)

    @cached_property
    def first_col(self) -> IntArray:
        """The first column of each data column's era."""
        return np.repeat(self.starts[:-1], self.lengths)

    def sum(self, x: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> FloatArray:
        """Sum over each era along the last axis: ``(..., n) -> (..., n_eras)``."""
        if x.dtype == np.bool_:
            x = x.astype(np.int64)
        if self.n_eras == 1:
            return np.asarray(x.sum(axis=-1, keepdims=True), dtype=np.float64)
        return np.asarray(np.add.reduceat(x, self.starts[:-1], axis=-1), dtype=np.float64)

    def dot(self, x: FloatArray, v: FloatArray) -> FloatArray:
        """Per-era sums of ``x * v`` for ``x`` ``(k, n)`` and ``v`` ``(n,)``: ``(k, n_eras)``."""
        if self.n_eras == 1:
            return matvec(x, v)[:, None]
        return self.sum(x * v)

    def mean(self, x: FloatArray) -> FloatArray:
        return self.sum(x) / self.lengths

    def spread(self, per_era: FloatArray) -> FloatArray:
        """Broadcast ``(..., n_eras)`` values back to ``(..., n)``."""
        if self.n_eras == 1:
            return per_era[..., :1]
        return per_era[..., self.ids]

    def subset(self, keep: BoolArray) -> Segments:
        """The segments of the columns that ``keep`` selects (every era must keep a row)."""
        counts = np.add.reduceat(keep.astype(np.int64), self.starts[:-1])
        return Segments.from_lengths(counts)


def matvec(x: np.ndarray, v: np.ndarray) -> FloatArray:
    """``x @ v`` on one BLAS thread, so that every row's sum is formed the same way however
    many rows there are: a threaded product splits the rows where their number says, and
    the rows at a split's edge take another code path (other rounding). A submission's
    scores then never depend on which other submissions share the call — what lets a round
    be scored in column blocks (:mod:`crowdalpha.scoring.blocks`) with the same bits."""
    with _blas_threads(1):
        return np.asarray(x @ v, dtype=np.float64)


def _map_rows(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Apply a row-wise ``fn`` to blocks of rows on several threads when it pays off."""
    workers = min(_cpu_count(), 8)
    if x.shape[0] < _PARALLEL_MIN_ROWS or workers < 2:
        return fn(x)
    blocks = np.array_split(np.arange(x.shape[0]), workers)
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda rows: fn(x[rows[0] : rows[-1] + 1]), blocks))
    return np.concatenate(parts, axis=0)


def sort_order(x: FloatArray, seg: Segments, *, stable: bool = False) -> IntArray:
    """Per row, the column order that sorts ``x`` ascending within each era (NaN last).

    ``stable=True`` keeps equal values in their column order, as ``np.argsort(kind="stable")``
    does, which is what numerai-tools' top/bottom selection relies on.
    """
    kind: Literal["stable", "quicksort"] = "stable" if stable else "quicksort"
    if seg.n_eras == 1:
        return np.asarray(_map_rows(lambda b: np.argsort(b, axis=1, kind=kind), x))
    longest = int(seg.lengths.max())
    if seg.n_eras * longest <= 2 * seg.n:
        # Eras of similar sizes: lay them out as rows of an (eras × longest) table padded
        # with NaN (sorted last) and sort every era at once along the last axis.
        pos = np.arange(seg.n, dtype=np.int64) - seg.first_col
        padded = np.full((x.shape[0], seg.n_eras, longest), np.nan)
        padded[:, seg.ids, pos] = x
        local = _map_rows(lambda b: np.argsort(b, axis=2, kind=kind), padded)
        real = local < seg.lengths[None, :, None]
        glob = local + seg.starts[:-1][None, :, None]
        return np.asarray(glob[real].reshape(x.shape), dtype=np.int64)
    # Eras of very different sizes: sort by value, then stably by era (a radix sort).
    order = _map_rows(lambda b: np.argsort(b, axis=1, kind=kind), x)
    era_of = seg.ids.astype(np.int16 if seg.n_eras < 2**15 else np.int32)[order]
    by_era = _map_rows(lambda b: np.argsort(b, axis=1, kind="stable"), era_of)
    return np.asarray(np.take_along_axis(order, by_era, axis=1), dtype=np.int64)


def _tie_runs(sorted_x: FloatArray, seg: Segments) -> IntArray:
    """Twice the average 1-based rank of every sorted value (sorted within eras).

    A run of equal values at sorted positions ``a..b`` of an era gets the average rank
    ``(a + b) / 2 + 1``; twice that is the integer ``a + b + 2``. Every position finds its
    run's first column (a running maximum of the run starts) and last column (a running
    minimum, from the right, of the run ends); no run spans two rows or eras. Integer
    arithmetic throughout: the same numbers however the runs are found.
    """
    k, n = sorted_x.shape
    if k == 0 or n == 0:
        return np.zeros((k, n), dtype=np.int64)
    new_run = np.empty((k, n), dtype=bool)
    new_run[:, 0] = True
    np.not_equal(sorted_x[:, 1:], sorted_x[:, :-1], out=new_run[:, 1:])
    new_run[:, seg.starts[1:-1]] = True
    col = np.arange(n, dtype=np.int64)
    first = np.where(new_run, col, 0)
    np.maximum.accumulate(first, axis=1, out=first)
    last_of_run = np.empty((k, n), dtype=bool)
    last_of_run[:, -1] = True
    last_of_run[:, :-1] = new_run[:, 1:]
    del new_run
    last = np.minimum.accumulate(np.where(last_of_run, col, n)[:, ::-1], axis=1)[:, ::-1]
    # a + b + 2 relative to the era's first column
    first += last
    first += 2 - 2 * seg.first_col
    return first


def sorted_tie_kept_rank(sorted_x: FloatArray, seg: Segments) -> FloatArray:
    """:func:`tie_kept_rank` of values already sorted within each era (NaN last), at
    their sorted positions."""
    twice_rank = _tie_runs(sorted_x, seg)
    # Sorting stays within eras, so sorted position j still belongs to era ids[j].
    counts = seg.spread(seg.sum(~np.isnan(sorted_x)))
    with np.errstate(divide="ignore", invalid="ignore"):  # an all-NaN era counts 0
        ranks_sorted: FloatArray = ((twice_rank - 1) * 0.5) / counts
    ranks_sorted[np.isnan(sorted_x)] = np.nan
    return ranks_sorted


def tie_kept_rank(x: FloatArray, seg: Segments) -> FloatArray:
    """``(average rank - 0.5) / count`` within each era; NaN stays NaN and is not counted.

    Bit-identical to numerai-tools' ``tie_kept_rank`` (pandas ``rank(method="average")``).
    """
    order = sort_order(x, seg)
    sorted_x = np.take_along_axis(x, order, axis=1)
    ranks_sorted = sorted_tie_kept_rank(sorted_x, seg)
    out = np.empty_like(ranks_sorted)
    np.put_along_axis(out, order, ranks_sorted, axis=1)
    return out


@dataclass(frozen=True)
class RankCodes:
    """Tie-kept ranks of NaN-free data, stored as integer codes.

    Era ``e``'s possible average ranks are numbered from ``offsets[e]``: code
    ``offsets[e] + h - 2`` stands for twice-rank ``h`` (``h = 2 .. 2 * len_e``), that is the
    tie-kept rank ``(h / 2 − 0.5) / len_e``. A monotone transform of the ranks (Gaussian,
    power) is then evaluated once per possible rank when there are more values than
    possible ranks (many submissions), or directly on the values otherwise — the same
    inputs to the same functions either way, so the results are bit-identical.
    """

    codes: npt.NDArray[np.integer]
    has_ties: BoolArray
    seg: Segments
    offsets: IntArray

    @property
    def table_size(self) -> int:
        return int((2 * self.seg.lengths - 1).sum())

    @cached_property
    def table_input(self) -> FloatArray:
        """The tie-kept rank every code stands for."""
        sizes = 2 * self.seg.lengths - 1
        era_of_entry = np.repeat(np.arange(self.seg.n_eras), sizes)
        twice = np.arange(sizes.sum(), dtype=np.int64) - np.repeat(self.offsets, sizes) + 2
        return np.asarray(((twice - 1) * 0.5) / self.seg.lengths[era_of_entry])

    def ranks(self) -> FloatArray:
        """The tie-kept ranks themselves, ``(k, n)``."""
        era = self.seg.ids
        twice = self.codes - self.offsets[era] + 2
        return np.asarray(((twice - 1) * 0.5) / self.seg.lengths[era])

    def transform(self, fn: Callable[[FloatArray], FloatArray]) -> FloatArray:
        """``fn`` of the tie-kept ranks, ``(k, n)``."""
        if self.codes.size <= self.table_size:
            return np.asarray(fn(self.ranks()), dtype=np.float64)
        return np.asarray(np.asarray(fn(self.table_input), dtype=np.float64)[self.codes])

    def tie_free(self, fn: Callable[[FloatArray], FloatArray]) -> FloatArray:
        """``fn`` of the ranks a row without ties holds, in sorted order: ``(n,)``."""
        pos = np.arange(self.seg.n, dtype=np.int64) - self.seg.first_col
        lengths = np.repeat(self.seg.lengths, self.seg.lengths)
        return np.asarray(fn((pos + 0.5) / lengths), dtype=np.float64)

    @cached_property
    def gaussian(self) -> FloatArray:
        """Gaussianized ranks, ``(k, n)``."""
        return self.transform(ndtri)

    @cached_property
    def gaussian_pow15(self) -> FloatArray:
        """``pow15`` of the Gaussianized ranks (CORR's transform), ``(k, n)``."""
        return self.transform(gaussian_pow15)


def ndtri(x: FloatArray) -> FloatArray:
    """The inverse normal CDF (``scipy.stats.norm.ppf``, bit for bit)."""
    return np.asarray(special.ndtri(x), dtype=np.float64)


def gaussian_pow15(x: FloatArray) -> FloatArray:
    """``pow15(ndtri(x))``: the CORR transform of tie-kept ranks."""
    return pow15(ndtri(x))


def rank_codes(x: FloatArray, seg: Segments) -> RankCodes:
    """Tie-kept ranks of NaN-free ``x`` within each era, as :class:`RankCodes`."""
    k, n = x.shape
    order = sort_order(x, seg)
    sizes = 2 * seg.lengths - 1
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    code_dtype = np.int32 if sizes.sum() < np.iinfo(np.int32).max else np.int64
    # A value at sorted position j of a tie-free row has twice-rank 2 * (j - era start) + 2.
    pos = np.arange(n, dtype=np.int64) - seg.first_col
    era_offset = np.repeat(offsets, seg.lengths)
    base = (era_offset + 2 * pos).astype(code_dtype)
    sorted_x = np.take_along_axis(x, order, axis=1)
    same = sorted_x[:, 1:] == sorted_x[:, :-1]
    if seg.n_eras > 1:
        same[:, seg.starts[1:-1] - 1] = False
    has_ties = same.any(axis=1)
    del same
    codes_sorted = np.broadcast_to(base, (k, n))
    tied = np.flatnonzero(has_ties)
    if tied.size:
        codes_sorted = codes_sorted.copy()
        twice_rank = _tie_runs(sorted_x[tied], seg)
        codes_sorted[tied] = twice_rank + (era_offset - 2)
    del sorted_x
    codes = np.empty((k, n), dtype=code_dtype)
    np.put_along_axis(codes, order, codes_sorted, axis=1)
    return RankCodes(codes=codes, has_ties=has_ties, seg=seg, offsets=offsets)


def pow15(x: FloatArray) -> FloatArray:
    """``sign(x) * |x| ** 1.5``, computed exactly as numerai-tools' ``power(df, 1.5)``."""
    return np.asarray(np.sign(x) * np.abs(x) ** 1.5, dtype=np.float64)


def pearson(a: FloatArray, b: FloatArray, seg: Segments) -> FloatArray:
    """Pearson correlation of every row of ``a`` ``(k, n)`` with ``b`` ``(n,)`` per era.

    NaN where either side is constant in the era, as pandas' ``Series.corr`` gives.
    """
    ac = a - seg.spread(seg.mean(a))
    bc = b - seg.spread(seg.mean(b))
    num = seg.dot(ac, bc) if bc.ndim == 1 else seg.sum(ac * bc)
    ssa = np.einsum("ij,ij->i", ac, ac)[:, None] if seg.n_eras == 1 else seg.sum(ac * ac)
    den = ssa * seg.sum(bc * bc)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / np.sqrt(den)
    out[den == 0] = np.nan
    return np.asarray(np.clip(out, -1.0, 1.0), dtype=np.float64)


def pearson_masked(a: FloatArray, b: FloatArray, mask: BoolArray, seg: Segments) -> FloatArray:
    """Like :func:`pearson`, over only the entries ``mask`` selects (per row and era)."""
    w = mask.astype(np.float64)
    cnt = seg.sum(w)
    bb = np.broadcast_to(b, a.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = seg.sum(a * w) / cnt
        mb = seg.sum(bb * w) / cnt
        ac = (a - seg.spread(ma)) * w
        bc = (bb - seg.spread(mb)) * w
        num = seg.sum(ac * bc)
        den = seg.sum(ac * ac) * seg.sum(bc * bc)
        out = num / np.sqrt(den)
    out[den == 0] = np.nan
    return np.asarray(np.clip(out, -1.0, 1.0), dtype=np.float64)


def top_bottom_mask(values: FloatArray, seg: Segments, top_bottom: int) -> BoolArray:
    """Select, per row and era, the ``top_bottom`` lowest and highest values.

    Ties are broken by column order (a stable sort), exactly as numerai-tools'
    ``filter_sort_top_bottom``. Every era must hold at least ``2 * top_bottom`` rows.
    """
    order = sort_order(values, seg, stable=True)
    pos_in_era = np.arange(seg.n, dtype=np.int64) - seg.first_col
    era_len = np.repeat(seg.lengths, seg.lengths)
    chosen_sorted = (pos_in_era < top_bottom) | (pos_in_era >= era_len - top_bottom)
    mask = np.empty(values.shape, dtype=bool)
    np.put_along_axis(mask, order, np.broadcast_to(chosen_sorted, values.shape), axis=1)
    return mask


def power_distorts(transformed: FloatArray, original: FloatArray, seg: Segments) -> BoolArray:
    """numerai-tools' guard on ``power``: the transform must keep corr ≥ 0.9 with its input.

    Returns, per row and era, where the guard fails (a column that is constant after the
    transform passes; a one-row era fails, since its standard deviation is undefined).
    """
    rows = np.atleast_2d(transformed)
    corr = pearson(rows, original, seg)
    constant = _constant_per_era(rows, seg) & (seg.lengths > 1)
    with np.errstate(invalid="ignore"):
        ok = constant | (corr >= 0.9)
    return np.asarray(~ok, dtype=bool)


def _constant_per_era(x: FloatArray, seg: Segments) -> BoolArray:
    if seg.n_eras == 1:
        return np.asarray(x.max(axis=1, keepdims=True) == x.min(axis=1, keepdims=True))
    hi = np.maximum.reduceat(x, seg.starts[:-1], axis=1)
    lo = np.minimum.reduceat(x, seg.starts[:-1], axis=1)
    return np.asarray(hi == lo)


def contribution(
    p: FloatArray,
    m: FloatArray,
    t: FloatArray,
    seg: Segments,
    top_bottom: int | None = None,
) -> FloatArray:
    """Correlation contribution (MMC/BMC) of every row of ``p`` against meta model ``m``.

    ``p`` and ``m`` are Gaussianized ranks, ``t`` the targets: per era, targets all in
    [0, 1] are scaled by 4, then centred; the result is ``tᵀ p⊥ / n`` with
    ``p⊥ = p − m (pᵀm)/(mᵀm)`` — computed as ``(tᵀp − (tᵀm)(pᵀm)/(mᵀm)) / n`` unless only
    the top/bottom rows count.
    """
    in_unit = (t >= 0) & (t <= 1)
    all_in_unit = seg.sum(in_unit.astype(np.int64)) == seg.lengths
    t4 = t * np.where(seg.spread(all_in_unit[None, :])[0], 4.0, 1.0)
    tc = t4 - seg.spread(seg.mean(t4))
    pm = seg.dot(p, m)
    mm = seg.sum(m * m)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = pm / mm
        if top_bottom is None:
            out = (seg.dot(p, tc) - seg.sum(tc * m) * beta) / seg.lengths
        else:
            p_perp = p - m * seg.spread(beta)
            mask = top_bottom_mask(p_perp, seg, top_bottom)
            out = seg.sum(np.where(mask, p_perp * tc, 0.0)) / (2 * top_bottom)
    out[np.broadcast_to(mm == 0, out.shape)] = np.nan
    return np.asarray(out, dtype=np.float64)


# --- neutralization -------------------------------------------------------------------


def _int_peak(features: np.ndarray) -> int | None:
    """The largest magnitude of integer features (None for non-integer ones).

    Integer features make ``FᵀF`` exact in float32 as long as every sum stays below 2**24,
    that is for eras of fewer than ``2**24 / peak²`` rows.
    """
    if not np.issubdtype(features.dtype, np.integer) or features.size == 0:
        return None
    return max(abs(int(features.max())), abs(int(features.min())), 1)


def _lstsq_residual(x: FloatArray, f64: FloatArray, proportion: float) -> FloatArray:
    """numerai-tools' neutralization: SVD least squares on ``[F, 1]`` with rcond 1e-6."""
    design = np.hstack([f64, np.ones((f64.shape[0], 1))])
    beta = np.linalg.lstsq(design, x.T, rcond=LSTSQ_RCOND)[0]
    return np.asarray(x - proportion * (design @ beta).T, dtype=np.float64)


class _Workspace:
    """Buffers reused from era to era: fresh arrays every era cost page faults, and in worker
    threads those faults serialize on the process's memory map."""

    def __init__(self, rows: int, cols: int, *, serial: bool = True) -> None:
        # Serial callers cap BLAS threads around scipy's LAPACK calls: numpy and scipy each
        # bundle an OpenBLAS, and their two thread pools fight over the cores otherwise.
        # Parallel callers have capped every pool at one thread already.
        self.lapack_guard: Callable[[], AbstractContextManager[object]] = (
            (lambda: _blas_threads(1)) if serial else nullcontext
        )
        self.f32 = np.empty((rows, cols + 1), dtype=np.float32)
        self.f64 = np.empty((rows, cols), dtype=np.float64)
        self.gram32 = np.empty((cols + 1, cols + 1), dtype=np.float32)
        self.gram = np.empty((cols, cols), dtype=np.float64, order="F")
        self.outer = np.empty((cols, cols), dtype=np.float64, order="F")


def _neutralize_block(
    x: FloatArray,
    features: np.ndarray,
    proportion: float,
    work: _Workspace | None = None,
    fmax: int | None = None,
) -> FloatArray:
    """Neutralize the rows of ``x`` ``(k, n)`` against ``features`` ``(n, f)`` plus a constant.

    Solves the centred normal equations by Cholesky (with an exact float32 Gram matrix for
    small integer features), refines once when the system is not well conditioned, and
    falls back to the reference's SVD least squares when it is near singular — so the
    projection is the one ``np.linalg.lstsq(rcond=1e-6)`` gives. ``fmax`` is
    :func:`_int_peak` of the features, when the caller knows it already.
    """
    n, nf = features.shape
    work = work if work is not None else _Workspace(n, nf)
    fmax = _int_peak(features) if fmax is None else fmax
    exact = fmax is not None and n * fmax * fmax < 2**24
    f32 = work.f32[:n]
    f64 = work.f64[:n]
    np.copyto(f64, features, casting="unsafe")
    if n <= nf + 1:
        return _lstsq_residual(x, f64, proportion)
    gram_c = work.gram
    if exact:
        # A column of ones appended to F gives the column sums in the same product.
        np.copyto(f32[:, :nf], features, casting="unsafe")
        f32[:, nf] = 1.0
        np.matmul(f32.T, f32, out=work.gram32)
        np.copyto(gram_c, work.gram32[:nf, :nf])
        sums = work.gram32[:nf, nf].astype(np.float64)
    else:
        np.matmul(f64.T, f64, out=gram_c)
        sums = f64.sum(axis=0)
    largest = float(np.max(np.diag(gram_c)))
    means = sums / n
    np.multiply.outer(sums, means, out=work.outer)
    gram_c -= work.outer
    anorm = float(np.abs(gram_c).sum(axis=0).max())
    # Columns constant in this block lie in the span of the constant: drop them.
    flat = np.diag(gram_c) <= 1e-12 * max(largest, 1.0)
    if flat.any():
        gram_c[flat, :] = 0.0
        gram_c[:, flat] = 0.0
        gram_c[flat, flat] = 1.0
        anorm = float(np.abs(gram_c).sum(axis=0).max())
    with work.lapack_guard():
        # In place, on a Fortran-ordered buffer: no allocation, no copy.
        chol, info = lapack.dpotrf(gram_c, lower=0, clean=1, overwrite_a=1)
        if info == 0:
            rcond, info = lapack.dpocon(chol, anorm)
        else:
            rcond = 0.0
    if info != 0 or not rcond >= _GRAM_RCOND_FALLBACK:
        return _lstsq_residual(x, f64, proportion)

    def solve(rhs: FloatArray) -> FloatArray:
        """``Gc⁻¹ rhsᵀ`` for ``rhs`` ``(k, f)``, as ``(k, f)``; dropped columns get 0."""
        with work.lapack_guard():
            sol, err = lapack.dpotrs(chol, np.where(flat, 0.0, rhs).T, lower=0)
        if err != 0:  # pragma: no cover - dpotrs only fails on malformed arguments
            raise np.linalg.LinAlgError(f"dpotrs failed with info={err}")
        return np.asarray(sol.T, dtype=np.float64)

    resid = x - x.mean(axis=1, keepdims=True)
    beta = solve(resid @ f64)  # centred x makes xᵀF equal xᵀ(F − mean)
    resid -= beta @ f64.T
    resid += matvec(beta, means)[:, None]
    if rcond < _GRAM_RCOND_REFINE:
        correction = solve(resid @ f64 - np.outer(resid.sum(axis=1), means))
        resid -= correction @ f64.T
        resid += matvec(correction, means)[:, None]
    if proportion == 1.0:
        return np.asarray(resid, dtype=np.float64)
    return np.asarray(x - proportion * (x - resid), dtype=np.float64)


def neutralize(
    x: FloatArray,
    features: np.ndarray,
    seg: Segments,
    proportion: float = 1.0,
    *,
    rows: IntArray | None = None,
) -> FloatArray:
    """Neutralize every row of ``x`` ``(k, n)`` against ``features`` ``(n, f)``, era by era.

    Rows that are constant within an era become NaN in that era, as in numerai-tools.
    ``rows``, when given, maps the columns of ``x`` to rows of ``features`` (data grouped by
    era for ``x`` while ``features`` stays in its original order, uncopied).

    Each era has its own feature matrix to factorize, so eras are visited one by one — the
    body is one dense BLAS/LAPACK factorization, and memory stays at one era's features.
    With several eras, the cores share them out: each worker thread takes every other era
    with single-threaded BLAS, which beats one BLAS call spread over the cores.
    """
    out = np.empty_like(x, dtype=np.float64)
    flat_rows = _constant_per_era(x, seg) & (seg.lengths[None, :] > 1)
    longest, nf = int(seg.lengths.max()), features.shape[1]

    fmax = _int_peak(features)

    workers = min(_cpu_count(), seg.n_eras)

    def visit(eras: range) -> None:
        work = _Workspace(longest, nf, serial=workers < 2)
        for e in eras:
            lo, hi = int(seg.starts[e]), int(seg.starts[e + 1])
            era_features = features[lo:hi] if rows is None else features[rows[lo:hi]]
            live = ~flat_rows[:, e]
            if live.all():
                out[:, lo:hi] = _neutralize_block(x[:, lo:hi], era_features, proportion, work, fmax)
                continue
            out[~live, lo:hi] = np.nan
            if live.any():
                out[live, lo:hi] = _neutralize_block(
                    x[live, lo:hi], era_features, proportion, work, fmax
                )

    if workers < 2:
        visit(range(seg.n_eras))
        return out
    with _blas_threads(1), ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(visit, range(w, seg.n_eras, workers)) for w in range(workers)]:
            done.result()
    return out


def _cpu_count() -> int:
    """The cores this process may run on (cgroup and affinity aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


@cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _blas_threads(limit: int) -> AbstractContextManager[object]:
    """Cap the BLAS thread pools (numpy's and scipy's) for the duration of a block."""
    limiter: AbstractContextManager[object] = _blas_controller().limit(
        limits=limit, user_api="blas"
    )
    return limiter
