"""score_round_blocks: the same RoundScores as score_round on the whole frame, to the last
bit, whatever the block size, from memory or from stored files (a folder, an S3 bucket),
in this process or in a local pool. The Dask cluster's turn is in tests/compute."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.services import S3Endpoint

from crowdalpha.compute import LocalPool
from crowdalpha.errors import (
    IndexMismatchError,
    InvalidParameterError,
    MissingValuesError,
    ScoringInputError,
)
from crowdalpha.scoring import RoundScores, score_round
from crowdalpha.scoring.blocks import FrameColumns, StoredColumns, score_round_blocks
from crowdalpha.storage import FileStore, LocalFileStore

ROWS = 1000
MODELS = 700  # not a multiple of the blocks: the last block is short


def make_round(
    seed: int = 3, rows: int = ROWS, models: int = MODELS
) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame, pd.Series]:
    """Predictions of mixed skill with ties, targets in five bins, stakes (some zero),
    int8 features and a benchmark model — ids in no particular order."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"n{i:015x}" for i in rng.permutation(rows) * 7919], name="id")
    signal = rng.normal(size=rows)
    targets = pd.Series(
        np.digitize(signal + rng.normal(size=rows), [-1.5, -0.5, 0.5, 1.5]) / 4.0, index=ids
    )
    noise = rng.uniform(0.5, 8, size=models)
    values = signal[:, None] + noise * rng.normal(size=(rows, models))
    preds = pd.DataFrame(values, index=ids, columns=pd.RangeIndex(100, 100 + models))
    preds[105] = preds[105].round(0)  # heavy ties
    preds[110] = np.round(preds[110] * 4) / 4
    stakes = pd.Series(rng.integers(0, 5_000, size=models).astype(float), index=preds.columns)
    stakes.iloc[rng.choice(models, size=models // 4, replace=False)] = 0.0
    features = pd.DataFrame(
        rng.integers(0, 5, size=(rows, 20)).astype(np.int8), index=ids
    ).add_prefix("f")
    bench = pd.Series(signal + rng.normal(size=rows), index=ids)
    return preds, targets, stakes, features, bench


@pytest.fixture(scope="module")
def game() -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame, pd.Series]:
    return make_round()


@pytest.fixture(scope="module")
def expected(
    game: tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame, pd.Series],
) -> RoundScores:
    preds, targets, stakes, features, bench = game
    return score_round(
        preds.sort_index(),
        targets,
        stakes=stakes,
        features=features.sort_index(),
        benchmark_meta_model=bench,
    )


def assert_identical(got: RoundScores, want: RoundScores) -> None:
    """Equal to the last bit: every score, the meta model, the index and the names."""
    pd.testing.assert_frame_equal(got.scores, want.scores, check_exact=True)
    assert got.meta_model is not None and want.meta_model is not None
    pd.testing.assert_series_equal(got.meta_model, want.meta_model, check_exact=True)
    assert np.array_equal(got.scores.to_numpy(), want.scores.to_numpy(), equal_nan=True)


def store_columns(store: FileStore, preds: pd.DataFrame) -> StoredColumns:
    """The columns as Tournament.submit stores them: one .npy per model, rows as given."""
    keys = []
    for name in preds.columns:
        key = f"submissions/00001/{name}/x.npy"
        buffer = io.BytesIO()
        np.save(buffer, preds[name].to_numpy(dtype=np.float64), allow_pickle=False)
        store.put(key, buffer.getvalue())
        keys.append(key)
    return StoredColumns(store, keys, list(preds.columns), preds.index)


@pytest.mark.parametrize("block", [64, 192, 256, 1024])
def test_blocks_of_any_size_give_score_rounds_bits(
    game: tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame, pd.Series],
    expected: RoundScores,
    block: int,
) -> None:
    preds, targets, stakes, features, bench = game
    got = score_round_blocks(
        FrameColumns(preds),
        targets,
        stakes=stakes,
        features=features.sort_index(),
        benchmark_meta_model=bench,
        block_columns=block,
    )
    assert_identical(got, expected)
    assert list(got.scores.columns) == ["corr", "mmc", "fnc", "bmc"]


def test_stored_columns_in_a_folder_and_in_a_pool(
    game: tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame, pd.Series],
    expected: RoundScores,
    tmp_path: Path,
) -> None:
    preds, targets, stakes, features, bench = game
    source = store_columns(LocalFileStore(tmp_path), preds)
    assert source.ids.equals(preds.index.sort_values())
    with LocalPool(2) as pool:
        got = score_round_blocks(
            source,
            targets,
            stakes=stakes,
            features=features.sort_index(),
            benchmark_meta_model=bench,
            backend=pool,
            block_columns=256,
        )
    assert_identical(got, expected)


def test_stored_columns_in_an_s3_bucket(s3: S3Endpoint) -> None:
    preds, targets, stakes, _, _ = make_round(seed=4, rows=300, models=80)
    source = store_columns(s3.store(), preds)
    got = score_round_blocks(source, targets, stakes=stakes, block_columns=64)
    assert_identical(got, score_round(preds.sort_index(), targets, stakes=stakes))


def test_without_stakes_there_is_no_meta_model_and_no_mmc(
    game: tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame, pd.Series],
) -> None:
    preds, targets, stakes, _, _ = game
    for given in (None, stakes * 0):
        got = score_round_blocks(FrameColumns(preds), targets, stakes=given, block_columns=128)
        want = score_round(preds.sort_index(), targets, stakes=given)
        assert got.meta_model is None and want.meta_model is None
        pd.testing.assert_frame_equal(got.scores, want.scores, check_exact=True)


def test_refusals(
    game: tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame, pd.Series],
    tmp_path: Path,
) -> None:
    preds, targets, _, _, _ = game
    source = FrameColumns(preds)
    for block in (0, 100, -64):
        with pytest.raises(InvalidParameterError, match="multiple of 64"):
            score_round_blocks(source, targets, block_columns=block)
    with pytest.raises(IndexMismatchError):
        score_round_blocks(source, targets, stakes=pd.Series([1.0], index=[9999]))
    holey = preds.copy()
    holey.iloc[3, 7] = np.nan
    with pytest.raises(MissingValuesError, match="107"):
        score_round_blocks(FrameColumns(holey), targets, block_columns=64)
    with pytest.raises(ScoringInputError, match="no prediction columns"):
        score_round_blocks(FrameColumns(preds.iloc[:, :0]), targets)
    store = LocalFileStore(tmp_path)
    short = store_columns(store, preds.iloc[:, :3])
    store.put(short.keys[1], io.BytesIO(b"not numpy").getvalue())
    with pytest.raises(ScoringInputError, match="not a predictions file"):
        score_round_blocks(short, targets, block_columns=64)
