"""Reading prediction files: CSV, CSV.gz and Parquet in, every kind of bad file refused."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdalpha import errors
from crowdalpha.submissions import (
    MAX_EXPANSION,
    file_sha256,
    load_and_validate,
    read_submission,
)

LIVE = [f"n{i:015x}" for i in range(200)]


@pytest.fixture
def preds() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"id": LIVE, "prediction": rng.random(len(LIVE))})


def as_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def as_parquet(frame: pd.DataFrame, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, **kwargs)  # type: ignore[call-overload]
    return buf.getvalue()


def assert_round_trip(read: pd.DataFrame, frame: pd.DataFrame) -> None:
    assert list(read.columns) == list(frame.columns)
    assert read["id"].tolist() == frame["id"].tolist()
    assert read["prediction"].dtype == np.float64
    np.testing.assert_array_equal(read["prediction"].to_numpy(), frame["prediction"].to_numpy())


# --- round trips ---------------------------------------------------------------------------


def test_csv_round_trip_is_exact(preds: pd.DataFrame) -> None:
    assert_round_trip(read_submission(as_csv(preds)), preds)


def test_csv_gz_round_trip(preds: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "preds.csv.gz"
    preds.to_csv(path, index=False)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert_round_trip(read_submission(path), preds)


@pytest.mark.parametrize("compression", ["snappy", "zstd", None])
def test_parquet_round_trip(preds: pd.DataFrame, compression: str | None) -> None:
    assert_round_trip(read_submission(as_parquet(preds, compression=compression)), preds)


def test_parquet_named_index_becomes_the_first_column(preds: pd.DataFrame) -> None:
    raw = as_parquet(preds.set_index("id"))  # stored as [prediction, id]
    assert_round_trip(read_submission(raw), preds)


def test_parquet_unnamed_index_is_dropped(preds: pd.DataFrame) -> None:
    raw = as_parquet(preds.set_axis(np.arange(len(preds)) * 3))  # __index_level_0__
    assert_round_trip(read_submission(raw), preds)


def test_parquet_column_types_are_normalised() -> None:
    frame = pd.DataFrame(
        {"id": pd.Categorical(["a", "b", "c"]), "prediction": np.array([0.25, 0.5, 1.0], "f4")}
    )
    read = read_submission(as_parquet(frame))
    assert read["id"].tolist() == ["a", "b", "c"]
    assert read["prediction"].dtype == np.float64
    ints = read_submission(as_parquet(pd.DataFrame({"id": [7, 8], "prediction": [0, 1]})))
    assert ints["id"].tolist() == ["7", "8"] and ints["prediction"].tolist() == [0.0, 1.0]


def test_parquet_string_predictions_are_refused() -> None:
    frame = pd.DataFrame({"id": ["a"], "prediction": ["0.5"]})
    with pytest.raises(errors.SubmissionValuesError, match="must be numeric"):
        read_submission(as_parquet(frame))


def test_sources_bytes_path_and_file_object_agree(preds: pd.DataFrame, tmp_path: Path) -> None:
    raw = as_csv(preds)
    path = tmp_path / "p.csv"
    path.write_bytes(raw)
    from_bytes = read_submission(raw)
    for source in (path, str(path), bytearray(raw), memoryview(raw)):
        pd.testing.assert_frame_equal(read_submission(source), from_bytes)
    with path.open("rb") as fh:
        pd.testing.assert_frame_equal(read_submission(fh), from_bytes)


def test_text_mode_file_object_is_refused(tmp_path: Path, preds: pd.DataFrame) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(as_csv(preds))
    with path.open() as fh, pytest.raises(errors.InvalidParameterError, match="'rb'"):
        read_submission(fh)  # type: ignore[arg-type]


def test_ids_keep_their_text_and_only_empty_is_missing() -> None:
    raw = b"ticker,signal\n007,0.1\nNA,0.2\nnan,0.3\n,0.4\n"
    read = read_submission(raw)
    assert read["ticker"].tolist()[:3] == ["007", "NA", "nan"]
    assert pd.isna(read["ticker"].iloc[3])


def test_missing_prediction_spellings_read_as_nan() -> None:
    read = read_submission(b"id,prediction\na,\nb,NA\nc,nan\nd,null\ne,0.5\n")
    assert read["prediction"].isna().tolist() == [True, True, True, True, False]


# --- headers: BOM and whitespace (decision: dropped; case kept) -----------------------------


def test_bom_and_whitespace_around_header_names_are_dropped(preds: pd.DataFrame) -> None:
    raw = b"\xef\xbb\xbf id , prediction \r\n" + as_csv(preds).split(b"\n", 1)[1]
    assert_round_trip(read_submission(raw), preds)
    result = load_and_validate(raw, LIVE)
    assert result.live_rows == len(LIVE)


def test_header_names_stay_case_sensitive() -> None:
    with pytest.raises(errors.SubmissionHeadersError, match="case-sensitive"):
        read_submission(b"ID,prediction\na,0.5\n")


def test_id_values_are_not_stripped() -> None:
    # ' n1' is not the live id 'n1': refused, with the id shown
    with pytest.raises(errors.SubmissionIdsError, match=r"e\.g\.  n1"):
        load_and_validate(b"id,prediction\nn0,0.1\n n1,0.9\n", ["n0", "n1"])


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b",prediction\n0,0.5\n", "index_label='id'"),
        (b"id;prediction\nn1;0.5\n", "semicolons"),
        (b"id,prediction,feature_1\nn1,0.5,1\n", "unexpected column"),
        (b"id,prediction,prediction\nn1,0.5,0.5\n", "appears more than once"),
    ],
)
def test_columns_no_tournament_accepts_are_refused_before_reading_rows(
    raw: bytes, match: str
) -> None:
    with pytest.raises(errors.SubmissionHeadersError, match=match) as info:
        read_submission(raw)
    assert info.value.code == "invalid_submission_headers"


def test_parquet_with_feature_columns_is_refused(preds: pd.DataFrame) -> None:
    frame = preds.assign(**{f"feature_{i}": np.int8(2) for i in range(30)})
    with pytest.raises(errors.SubmissionHeadersError, match="and 25 more") as info:
        read_submission(as_parquet(frame))
    assert info.value.details["unexpected_count"] == 30


# --- bad files -----------------------------------------------------------------------------


# mtime=0: the same bytes, so the same test id, on every pytest-xdist worker
@pytest.mark.parametrize("raw", [b"", b"   \n\r\n", b"\xef\xbb\xbf", gzip.compress(b"", mtime=0)])
def test_empty_file_is_refused(raw: bytes) -> None:
    with pytest.raises(errors.SubmissionFileError, match="empty") as info:
        read_submission(raw, filename="preds.csv")
    assert info.value.code == "invalid_submission_file"
    assert info.value.details["reason"] == "empty"
    assert info.value.message.startswith("preds.csv ")


def test_header_without_rows_is_refused(preds: pd.DataFrame) -> None:
    with pytest.raises(errors.SubmissionFileError, match="no rows"):
        read_submission(b"id,prediction\n")
    with pytest.raises(errors.SubmissionFileError, match="no rows"):
        read_submission(as_parquet(preds.iloc[:0]))


@pytest.mark.parametrize("cut", [8, 100, -10])
def test_corrupt_parquet_is_refused(preds: pd.DataFrame, cut: int) -> None:
    raw = as_parquet(preds)
    with pytest.raises(errors.SubmissionFileError, match="corrupt or truncated Parquet") as info:
        read_submission(raw[:cut])
    assert info.value.details["reason"] == "corrupt_parquet"


def test_parquet_name_without_parquet_content_is_refused(preds: pd.DataFrame) -> None:
    with pytest.raises(errors.SubmissionFileError, match="not a Parquet file"):
        read_submission(as_csv(preds), filename="preds.parquet")


def test_corrupt_gzip_is_refused(preds: pd.DataFrame) -> None:
    raw = gzip.compress(as_csv(preds))
    with pytest.raises(errors.SubmissionFileError, match="not a valid gzip file"):
        read_submission(raw[: len(raw) // 2])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"PK\x03\x04rest-of-an-xlsx", "unsupported_format"),
        (b"\xff\xfei\x00d\x00", "not_utf8"),
        (b"id,prediction\n\xff\xfe\xfa,0.5\n", "not_utf8"),
        (b"id,prediction\nn1,0.5\nn2,0.5,9\n", "unreadable_csv"),
        (b"id,prediction\nn1,0.5,\nn2,0.5,\n", "unreadable_csv"),  # trailing commas
    ],
)
def test_unreadable_files_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(errors.SubmissionFileError) as info:
        read_submission(raw)
    assert info.value.details["reason"] == reason


def test_non_numeric_csv_prediction_names_the_row() -> None:
    with pytest.raises(errors.SubmissionValuesError, match="data row 2 holds 'high'") as info:
        read_submission(b"id,prediction\na,0.1\nb,high\n")
    assert info.value.details["reason"] == "non_numeric"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.SubmissionFileError, match="no file at"):
        read_submission(tmp_path / "nope.csv")


# --- size limits ---------------------------------------------------------------------------


def test_huge_file_is_refused_by_max_bytes(preds: pd.DataFrame, tmp_path: Path) -> None:
    raw = as_csv(preds)
    path = tmp_path / "big.csv"
    path.write_bytes(raw)
    limit = len(raw) - 1
    for source in (raw, path):
        with pytest.raises(errors.SubmissionFileError, match="larger than") as info:
            read_submission(source, max_bytes=limit)
        assert info.value.details["reason"] == "too_large"
    with path.open("rb") as fh, pytest.raises(errors.SubmissionFileError, match="larger than"):
        read_submission(fh, max_bytes=limit)
    assert len(read_submission(raw, max_bytes=len(raw))) == len(preds)  # the limit is inclusive


def test_max_bytes_is_checked_before_reading_a_path(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:  # a sparse 64 MiB file
        fh.truncate(64 << 20)
    with pytest.raises(errors.SubmissionFileError) as info:
        read_submission(path, max_bytes=10 << 20)
    assert info.value.details["size_at_least"] == 64 << 20  # its stat size, not max+1 read


def test_gzip_bomb_is_refused(preds: pd.DataFrame) -> None:
    body = as_csv(preds) + b"\n" * (MAX_EXPANSION * 20_000)
    bomb = gzip.compress(body)
    with pytest.raises(errors.SubmissionFileError, match="decompresses to over"):
        read_submission(bomb, max_bytes=len(bomb))
    assert len(read_submission(bomb)) == len(preds)  # no limit given: read it all


def test_parquet_bomb_is_refused() -> None:
    n = 2_000_000
    frame = pd.DataFrame({"id": ["same-id"] * n, "prediction": np.zeros(n)})
    raw = as_parquet(frame)
    with pytest.raises(errors.SubmissionFileError, match="decompresses to over"):
        read_submission(raw, max_bytes=len(raw))


def test_bad_max_bytes_is_the_callers_error(preds: pd.DataFrame) -> None:
    with pytest.raises(errors.InvalidParameterError):
        read_submission(as_csv(preds), max_bytes=0)


# --- load_and_validate and sha256 ----------------------------------------------------------


def test_load_and_validate_carries_the_raw_digest(preds: pd.DataFrame, tmp_path: Path) -> None:
    raw = gzip.compress(as_csv(preds))
    path = tmp_path / "p.csv.gz"
    path.write_bytes(raw)
    result = load_and_validate(path, LIVE[::-1], max_bytes=1 << 20)
    expected = hashlib.sha256(raw).hexdigest()
    assert result.sha256 == expected == file_sha256(path) == file_sha256(raw)
    with path.open("rb") as fh:
        assert file_sha256(fh) == expected
    assert list(result.predictions.index) == LIVE[::-1]
    assert result.predictions.loc[LIVE[0]] == preds["prediction"].iloc[0]


def test_same_predictions_in_other_formats_validate_alike(preds: pd.DataFrame) -> None:
    results = [
        load_and_validate(raw, LIVE)
        for raw in (as_csv(preds), gzip.compress(as_csv(preds)), as_parquet(preds))
    ]
    assert len({r.sha256 for r in results}) == 3
    for r in results[1:]:
        pd.testing.assert_series_equal(r.predictions, results[0].predictions)


def test_load_and_validate_refuses_a_bad_file_before_validating(preds: pd.DataFrame) -> None:
    with pytest.raises(errors.SubmissionValuesError, match="constant"):
        load_and_validate(as_csv(preds.assign(prediction=0.5)), LIVE)
    with pytest.raises(errors.SubmissionFileError):
        load_and_validate(b"", LIVE)
