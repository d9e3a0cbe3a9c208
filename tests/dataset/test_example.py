"""The example model's sums: exact, so any grouping of eras gives the same bits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdalpha.dataset.example import ExampleSums, FitCheckpoint, era_chain
from crowdalpha.errors import InvalidInputError, InvalidParameterError
from crowdalpha.storage import LocalFileStore

NAMES = ("f_a", "f_b", "f_c", "f_d")


def _era(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    bins = rng.integers(0, 5, size=(len(NAMES), rows)).astype(np.int8)
    target = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0, np.nan], size=rows).astype(np.float32)
    return bins, target


def _exact(eras: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, int]:
    """XᵀX and 4·Xᵀ(y − ½) in integers: no rounding anywhere."""
    xtx = np.zeros((len(NAMES), len(NAMES)), dtype=np.int64)
    xty4 = np.zeros(len(NAMES), dtype=np.int64)
    rows = 0
    for bins, target in eras:
        ok = np.isfinite(target)
        x = bins[:, ok].astype(np.int64) - 2
        xtx += x @ x.T
        xty4 += x @ (target[ok] * 4 - 2).astype(np.int64)
        rows += int(ok.sum())
    return xtx, xty4, rows


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=8),
    cuts=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_sums_are_exact_whatever_the_grouping_and_order(
    seed: int, sizes: list[int], cuts: list[bool]
) -> None:
    rng = np.random.default_rng(seed)
    eras = [_era(rng, n) for n in sizes]
    whole = ExampleSums.empty(NAMES)
    for bins, target in eras:
        whole.add_era(bins, target)
    # the same eras in groups (cut where ``cuts`` says), the groups added last to first
    groups: list[ExampleSums] = [ExampleSums.empty(NAMES)]
    for (bins, target), cut in zip(eras, cuts, strict=False):
        groups[-1].add_era(bins, target)
        if cut:
            groups.append(ExampleSums.empty(NAMES))
    grouped = ExampleSums.empty(NAMES)
    for group in reversed(groups):
        grouped.add(group)
    xtx, xty4, rows = _exact(eras)
    for sums in (whole, grouped):
        assert sums.rows == rows
        assert np.array_equal(sums.xtx, xtx.astype(np.float64))
        assert np.array_equal(sums.xty * 4, xty4.astype(np.float64))


def test_targets_off_the_quarter_grid_are_summed_in_double_precision() -> None:
    rng = np.random.default_rng(1)
    bins = rng.integers(0, 5, size=(len(NAMES), 200)).astype(np.int8)
    target = rng.random(200)
    sums = ExampleSums.empty(NAMES)
    sums.add_era(bins, target)
    x = bins.astype(np.float64) - 2
    np.testing.assert_allclose(sums.xty, x @ (target - 0.5), rtol=1e-12)
    assert sums.xty.dtype == np.float64


def test_bad_shapes_names_and_penalties_are_refused() -> None:
    sums = ExampleSums.empty(NAMES)
    with pytest.raises(InvalidInputError, match=r"\(features, rows\) = \(4, 3\)"):
        sums.add_era(np.zeros((3, 3), dtype=np.int8), np.zeros(3))
    with pytest.raises(InvalidInputError, match="different features"):
        sums.add(ExampleSums.empty(NAMES[:2]))
    with pytest.raises(InvalidInputError, match="no train rows"):
        sums.model()
    sums.add_era(np.full((4, 2), 3, dtype=np.int8), np.array([0.75, np.nan]))
    with pytest.raises(InvalidParameterError, match="positive"):
        sums.model(ridge=0)
    model = sums.model(ridge=1.0)
    # one row of ones (3 − 2) and target 0.25 above ½: (XᵀX + I) w = Xᵀy
    np.testing.assert_allclose(np.ones((4, 4)) @ model.weights + model.weights, 0.25)


def test_a_checkpoint_resumes_after_the_longest_prefix_it_covers(tmp_path: object) -> None:
    store = LocalFileStore(str(tmp_path))
    checkpoint = FitCheckpoint(store, "cell.npz")
    chain = era_chain(NAMES, ["e1", "e2", "e3"])
    assert checkpoint.load(chain, NAMES)[0] == 0  # nothing kept yet
    sums = ExampleSums.empty(NAMES)
    sums.add_era(np.full((4, 1), 4, dtype=np.int8), np.array([1.0]))
    checkpoint.save(chain[1], sums)
    done, resumed = checkpoint.load(chain, NAMES)
    assert done == 2 and resumed.rows == 1 and np.array_equal(resumed.xtx, sums.xtx)
    # another first era, other features, a damaged file: nothing to resume
    assert checkpoint.load(era_chain(NAMES, ["x1", "e2", "e3"]), NAMES)[0] == 0
    assert checkpoint.load(era_chain(NAMES[:3], ["e1", "e2"]), NAMES[:3])[0] == 0
    store.put("cell.npz", b"damaged")
    done, empty = checkpoint.load(chain, NAMES)
    assert done == 0 and empty.rows == 0 and not empty.xtx.any()
