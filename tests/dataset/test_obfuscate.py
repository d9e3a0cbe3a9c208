"""Obfuscation: bins, keyed ids and names, the vault."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from crowdalpha.dataset.obfuscate import MISSING_BIN, Vault, published_eras, quantile_bins
from crowdalpha.errors import InvalidInputError, InvalidParameterError
from crowdalpha.scoring.kernels import Segments, tie_kept_rank


def test_bins_are_equal_count_quintiles_as_int8() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 5000))
    bins = quantile_bins(values)
    assert bins.dtype == np.int8
    for row in bins:
        np.testing.assert_array_equal(np.bincount(row, minlength=5), [1000] * 5)
    # bins follow the order of the values
    order = np.argsort(values[0])
    assert (np.diff(bins[0][order]) >= 0).all()


def test_missing_and_constant_features_take_the_middle_bin() -> None:
    values = np.array([[1.0, np.nan, 3.0, 4.0, 5.0], [7.0] * 5, [np.nan] * 5])
    bins = quantile_bins(values)
    assert bins[0, 1] == MISSING_BIN
    assert (bins[1] == MISSING_BIN).all()
    assert (bins[2] == MISSING_BIN).all()
    assert bins[0].tolist() == [0, 2, 1, 3, 4]  # four values: ranks .125 .375 .625 .875


def test_ties_share_a_bin_and_eras_are_binned_apart() -> None:
    values = np.array([[1.0, 1.0, 1.0, 2.0, 10.0, 20.0, 30.0, 40.0, 50.0]])
    bins = quantile_bins(values, Segments.from_lengths([4, 5]))
    assert bins[0, 0] == bins[0, 1] == bins[0, 2]
    assert bins[0, 4:].tolist() == [0, 1, 2, 3, 4]


@settings(max_examples=300, deadline=None)
@given(
    arrays(
        np.float64,
        array_shapes(min_dims=2, max_dims=2, max_side=40),
        elements=st.sampled_from([np.nan, 0.0, -0.0, 1.0, 2.5, -3.0, np.inf, -np.inf, 1e-300])
        | st.floats(allow_nan=True, allow_infinity=True, width=64),
    )
)
def test_one_eras_bins_are_the_bins_of_its_tie_kept_ranks(values: np.ndarray) -> None:
    """One era is binned from four edges per feature, found on the sorted values: the bins
    of ranking every value (numerai-tools' tie-kept rank), ties, infinities, -0 and NaN
    included."""
    ranks = tie_kept_rank(values.copy(), Segments.single(values.shape[1]))
    with np.errstate(invalid="ignore"):
        expected = np.floor(ranks * 5)
    expected[np.isnan(expected)] = MISSING_BIN
    expected = np.clip(expected, 0, 4).astype(np.int8)
    np.testing.assert_array_equal(quantile_bins(values), expected)
    # the same as binning it as one of several eras
    both = np.hstack([values, values])
    two = quantile_bins(both, Segments.from_lengths([values.shape[1]] * 2))
    np.testing.assert_array_equal(two[:, : values.shape[1]], expected)


def test_ids_change_with_era_and_live_round_and_key() -> None:
    vault = Vault.create()
    era1, era2 = pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-12")
    a = vault.row_id(era1, "AAPL")
    assert a == vault.row_id(era1, "AAPL")  # deterministic for a key
    assert len(a) == 16 and a[0] == "n" and int(a[1:], 16) >= 0
    assert a != vault.row_id(era2, "AAPL")  # re-keyed every era
    assert a != vault.row_id(era1, "AAPL", live_round=7)  # live data keyed by round
    assert vault.row_id(era1, "AAPL", live_round=7) != vault.row_id(era1, "AAPL", live_round=8)
    assert a != Vault.create().row_id(era1, "AAPL")  # another key, another id
    ids = vault.row_ids(era1, [f"T{i}" for i in range(2000)])
    assert len(set(ids)) == 2000


def test_feature_names_are_opaque_unique_and_stable() -> None:
    vault = Vault(bytes(range(32)))
    names = ["mom_20", "mom_60", "vol_20", "vol_20_secrel"]
    opaque = vault.feature_names(names)
    assert opaque == Vault(bytes(range(32))).feature_names(names)
    assert len(set(opaque.values())) == len(names)
    for real, published in opaque.items():
        assert published.startswith("feature_") and real not in published


def test_shuffle_is_a_keyed_permutation() -> None:
    vault = Vault.create()
    day = pd.Timestamp("2024-01-05")
    perm = vault.shuffle(day, 100)
    assert sorted(perm.tolist()) == list(range(100))
    assert (perm == vault.shuffle(day, 100)).all()
    assert not (perm == np.arange(100)).all()
    assert not (perm == vault.shuffle(day, 100, live_round=3)).all()


def test_vault_round_trip_is_private(tmp_path: Path) -> None:
    vault = Vault.create()
    path = tmp_path / "secret" / "vault.json"
    vault.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Vault.load(path) == vault
    path.write_text("{}")
    with pytest.raises(InvalidInputError, match="not a crowdalpha vault"):
        Vault.load(path)
    with pytest.raises(InvalidParameterError):
        Vault(b"short")


def test_eras_are_numbered_in_date_order() -> None:
    days = [pd.Timestamp("2024-01-12"), pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-19")]
    assert published_eras(days) == {days[1]: "0001", days[0]: "0002", days[2]: "0003"}
