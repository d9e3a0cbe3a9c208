"""Parquet files assembled from parts are the very files pyarrow writes itself."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdalpha.dataset import parts
from crowdalpha.dataset.parts import PartAssembler, encode_part, parquet_of, part_rows
from crowdalpha.errors import InvalidInputError


def _table(era: int, rows: int, rng: np.random.Generator, columns: int = 20) -> pa.Table:
    values = {f"feature_{j:02d}": rng.integers(0, 5, rows).astype(np.int8) for j in range(columns)}
    target = np.where(rng.random(rows) < 0.2, np.nan, rng.random(rows)).astype(np.float32)
    frame = pd.DataFrame(
        {"era": [f"{era:04d}"] * rows, "data_type": "train", **values, "target": target},
        index=pd.Index([f"n{era}x{i}" for i in range(rows)], name="id"),
    )
    return pa.Table.from_pandas(frame)


def _pyarrow_file(tables: list[pa.Table], path: Path) -> bytes:
    with pq.ParquetWriter(path, tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table)
    return path.read_bytes()


@pytest.mark.parametrize(("eras", "columns"), [(1, 3), (4, 20), (40, 16)])
def test_a_file_assembled_from_parts_is_pyarrows_own_file(
    tmp_path: Path, eras: int, columns: int
) -> None:
    """Byte for byte the file pyarrow's ParquetWriter writes for the same row groups —
    with enough groups and columns for Thrift's long list headers (15 or more)."""
    rng = np.random.default_rng(eras)
    tables = [_table(e, int(rng.integers(1, 400)), rng, columns) for e in range(eras)]
    assembler = PartAssembler(tmp_path / "train.parquet")
    for table in tables:
        assert assembler.append(encode_part(table)) == table.num_rows
    assembler.close()
    assert assembler.rows == sum(t.num_rows for t in tables)
    ours = (tmp_path / "train.parquet").read_bytes()
    assert ours == _pyarrow_file(tables, tmp_path / "reference.parquet")
    # and it reads back as the tables, one row group each, with pandas' index
    read = pq.ParquetFile(tmp_path / "train.parquet")
    assert read.metadata.num_row_groups == eras
    for i, table in enumerate(tables):
        assert read.read_row_group(i).equals(table)
    frame = pd.read_parquet(tmp_path / "train.parquet")
    assert frame.index.name == "id" and len(frame) == assembler.rows
    assert not list(tmp_path.glob("*.partial"))


def test_a_part_is_a_parquet_file_with_its_rows(tmp_path: Path) -> None:
    table = _table(3, 57, np.random.default_rng(0))
    part = encode_part(table)
    assert part_rows(part) == 57
    assert pq.read_table(io.BytesIO(parquet_of(part))).equals(table)


def test_what_cannot_be_assembled_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    assembler = PartAssembler(tmp_path / "a.parquet")
    assembler.append(encode_part(_table(1, 10, rng)))
    with pytest.raises(InvalidInputError, match="share schema"):
        assembler.append(encode_part(_table(2, 10, rng, columns=3)))
    for junk in (b"", b"0" * 20, encode_part(_table(3, 5, rng))[:-9]):
        with pytest.raises(InvalidInputError):
            assembler.append(junk)
    assembler.abort()
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left
    empty = PartAssembler(tmp_path / "b.parquet")
    with pytest.raises(InvalidInputError, match="at least one part"):
        empty.close()
    assert list(tmp_path.iterdir()) == []


def test_a_parquet_file_whose_offsets_cannot_move_is_refused() -> None:
    """A page index holds absolute offsets inside itself: such a file cannot be a part."""
    sink = io.BytesIO()
    pq.write_table(_table(1, 10, np.random.default_rng(2)), sink, write_page_index=True)
    with pytest.raises(InvalidInputError, match="index cannot move"):
        parts._scan(sink.getvalue())
    with pytest.raises(InvalidInputError, match="PAR1"):
        parts._scan(b"not parquet at all")


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40))
def test_the_offsets_varints_are_thrifts_zigzag_varints(values: list[int]) -> None:
    """The vectorised encoder writes, value for value, what the one-value encoder writes."""
    digits, sizes = parts._varints(np.array(values, dtype=np.int64))
    assert digits.tobytes() == b"".join(parts._zigzag(v) for v in values)
    assert sizes.tolist() == [len(parts._zigzag(v)) for v in values]


@pytest.mark.parametrize("shift", [0, 1, 2**20, 2**35, 2**55])
def test_a_row_group_is_relocated_cut_by_cut(shift: int) -> None:
    """Moving a group's offsets — far enough that their varints grow — splices each cut as
    a plain loop over the cuts does."""
    part = encode_part(_table(7, 120, np.random.default_rng(3), columns=30))
    ((group, cuts),) = parts._footer(part).groups
    pieces, last = [], 0
    for lo, hi, value, kind in cuts.tolist():
        pieces += [group[last:lo], parts._zigzag(9 if kind == parts._ORDINAL else value + shift)]
        last = hi
    expected = b"".join([*pieces, group[last:]])
    assert parts._relocated(group, cuts, shift, 9) == expected
    assert len(expected) > len(group) or shift < 2**20
