"""Parquet files assembled from parts: row groups encoded on their own, joined by copying.

A round's split file holds one row group per era. Encoding an era (Parquet's dictionary
pages, compression, statistics) is the costly half of writing it, and an era published
once — a train era whose targets are all known — publishes the same rows in every later
round. So each era is encoded on its own as a *part*, a complete one-row-group Parquet file
(:func:`encode_part`, on any worker), and a split file is assembled from parts
(:class:`PartAssembler`): their column chunks copied byte for byte one after the other, the
row groups' metadata gathered into one footer with every offset moved to where its chunk
now lies. The file is byte for byte the one pyarrow's own ``ParquetWriter`` writes for the
same row groups (``tests/dataset/test_parts.py``); built from the same parts it is the same
bytes, whoever encoded them and whenever.

Parts must share their schema and metadata (they come from one
:class:`~crowdalpha.dataset.layout.EraPublisher`); a part carrying what offsets alone cannot
move — page indexes, bloom filters, encryption, chunks in other files — is refused.

The footer is Thrift's compact protocol. pyarrow reads footers but lets no program move
their offsets, and no maintained Python library rewrites a compact-protocol struct without
losing what its own copy of the IDL lacks (fastparquet's writer drops newer fields and
retypes 32-bit integers), so this module walks the footer itself: it skips every value
generically — nothing is decoded, so nothing is lost — and notes where the few offsets of
``RowGroup``, ``ColumnChunk`` and ``ColumnMetaData`` lie (an index kept with the part), then
writes them anew. Indexing a footer of 1,170 columns takes ~40 ms, once, where the part is
encoded; assembling a file only copies bytes and splices offsets.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crowdalpha.errors import InvalidInputError

__all__ = ["MAGIC", "PartAssembler", "encode_part", "parquet_of", "part_rows"]

MAGIC = b"PAR1"

# Thrift compact types.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY = 1, 2, 3, 4, 5, 6, 7, 8
_LIST, _SET, _MAP, _STRUCT = 9, 10, 11, 12
# Field ids of parquet.thrift that matter here.
_FILE_ROWS, _FILE_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_OFFSET, _GROUP_ORDINAL = 1, 5, 7
_CHUNK_OFFSET, _CHUNK_META = 2, 3
_CHUNK_UNMOVABLE = {
    1: "column chunks in other files",
    4: "an offset index",
    6: "a column index",
    8: "encryption",
    9: "encryption",
}
_META_OFFSETS = (9, 10, 11)  # data, index and dictionary page offsets
_META_UNMOVABLE = {14: "a bloom filter"}
# A cut: where an integer lies in a row group's bytes, its value, and whether it is an
# offset (moved) or the group's ordinal (renumbered).
_OFFSET, _ORDINAL = 0, 1
Cut = tuple[int, int, int, int]


def encode_part(table: pa.Table) -> bytes:
    """``table`` as a part: a Parquet file of one row group (pyarrow's default encoding),
    behind an index of where its footer's offsets lie — found here, where the part is
    encoded (on a worker, perhaps), so that assembling a file only copies and splices."""
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=max(1, table.num_rows))
    parquet = sink.getvalue()
    index = np.asarray(_scan(parquet), dtype="<i8").tobytes()
    return len(index).to_bytes(8, "little") + index + parquet


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = data[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, pos
        shift += 7


def _integer(data: bytes, pos: int) -> tuple[int, int]:
    n, pos = _varint(data, pos)
    return (n >> 1) ^ -(n & 1), pos


def _zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _skip(data: bytes, pos: int, kind: int) -> int:
    """The position after a value of ``kind`` (an element of a container for booleans)."""
    if kind <= _BYTE:
        return pos + 1
    if kind <= _I64:
        while data[pos] & 0x80:
            pos += 1
        return pos + 1
    if kind == _DOUBLE:
        return pos + 8
    if kind == _BINARY:
        n, pos = _varint(data, pos)
        return pos + n
    if kind in (_LIST, _SET):
        head = data[pos]
        pos += 1
        size, element = head >> 4, head & 0x0F
        if size == 15:
            size, pos = _varint(data, pos)
        if element <= _BYTE:
            return pos + size
        if element == _STRUCT:
            for _ in range(size):
                pos = _skip_struct(data, pos)
            return pos
        for _ in range(size):
            pos = _skip(data, pos, element)
        return pos
    if kind == _MAP:
        size, pos = _varint(data, pos)
        if not size:
            return pos
        types = data[pos]
        pos += 1
        for _ in range(size):
            pos = _skip(data, _skip(data, pos, types >> 4), types & 0x0F)
        return pos
    if kind == _STRUCT:
        return _skip_struct(data, pos)
    raise InvalidInputError(f"not a Parquet footer (Thrift type {kind})")


def _skip_struct(data: bytes, pos: int) -> int:
    """The position after a struct (the hot loop: integers and strings inline)."""
    while True:
        head = data[pos]
        pos += 1
        if head == 0:
            return pos
        kind = head & 0x0F
        if head < 0x10:  # a field id of its own
            while data[pos] & 0x80:
                pos += 1
            pos += 1
        if kind <= _FALSE:
            continue
        if _I16 <= kind <= _I64:
            while data[pos] & 0x80:
                pos += 1
            pos += 1
        elif kind == _BINARY:
            n, pos = _varint(data, pos)
            pos += n
        elif kind == _STRUCT:
            pos = _skip_struct(data, pos)
        else:
            pos = _skip(data, pos, kind)


def _field(data: bytes, pos: int, fid: int) -> tuple[int, int, int]:
    """The field header at ``pos`` after field ``fid``: ``(kind, field id, position after)``;
    kind 0 is the struct's end."""
    head = data[pos]
    pos += 1
    if head >= 0x10:
        return head & 0x0F, fid + (head >> 4), pos
    if head == 0:
        return 0, fid, pos
    fid, pos = _integer(data, pos)
    return head, fid, pos


def _struct_fields(data: bytes, pos: int) -> list[tuple[int, int, int, int]]:
    """The fields of the struct at ``pos``: ``(id, kind, value start, value end)``, and
    last ``(0, 0, end, end)`` with the position after the struct."""
    out: list[tuple[int, int, int, int]] = []
    fid = 0
    while True:
        kind, fid, pos = _field(data, pos, fid)
        if kind == 0:
            out.append((0, 0, pos, pos))
            return out
        end = pos if kind <= _FALSE else _skip(data, pos, kind)
        out.append((fid, kind, pos, end))
        pos = end


def _check(kind: int, expected: int, what: str) -> None:
    if kind != expected:
        raise InvalidInputError(f"not a Parquet footer ({what} of Thrift type {kind})")


def _group_cuts(data: bytes, start: int) -> tuple[int, list[Cut]]:
    """Where a row group's offsets and ordinal lie (positions relative to ``start``), and
    where the group ends."""
    cuts: list[Cut] = []
    end = start
    for fid, kind, lo, hi in _struct_fields(data, start):
        end = hi
        if fid in (_GROUP_OFFSET, _GROUP_ORDINAL):
            ordinal = fid == _GROUP_ORDINAL
            _check(kind, _I16 if ordinal else _I64, "a row group's offset or ordinal")
            value = _integer(data, lo)[0]
            cuts.append((lo - start, hi - start, value, _ORDINAL if ordinal else _OFFSET))
        elif fid == _GROUP_COLUMNS:
            _check(kind, _LIST, "a row group's columns")
            head = data[lo]
            pos = lo + 1
            size = head >> 4
            if size == 15:
                size, pos = _varint(data, pos)
            for _ in range(size):
                pos = _struct_cuts(data, pos, start, cuts, _CHUNK)
    return end, cuts


def _offset(data: bytes, pos: int, kind: int, start: int, cuts: list[Cut]) -> int:
    """Note the offset at ``pos``; the position after it. An offset of 0 means "not set"
    (a column chunk's deprecated ``file_offset``) and stays 0."""
    _check(kind, _I64, "an offset")
    lo = pos
    value, pos = _integer(data, pos)
    if value:
        cuts.append((lo - start, pos - start, value, _OFFSET))
    return pos


@dataclass(frozen=True)
class _Shape:
    """Which fields of a struct are offsets, which cannot be moved, which struct field holds
    offsets of its own (and of what shape)."""

    offsets: frozenset[int]
    unmovable: dict[int, str]
    nested: tuple[int, _Shape] | None = None


_META = _Shape(frozenset(_META_OFFSETS), _META_UNMOVABLE)
_CHUNK = _Shape(frozenset({_CHUNK_OFFSET}), _CHUNK_UNMOVABLE, (_CHUNK_META, _META))


def _struct_cuts(data: bytes, pos: int, start: int, cuts: list[Cut], shape: _Shape) -> int:
    """Note the offsets of a struct of ``shape`` (a column chunk, its metadata); the
    position after it."""
    fid = 0
    while True:
        kind, fid, pos = _field(data, pos, fid)
        if kind == 0:
            return pos
        if fid in shape.unmovable:
            raise InvalidInputError(f"a Parquet part with {shape.unmovable[fid]} cannot move")
        if fid in shape.offsets:
            pos = _offset(data, pos, kind, start, cuts)
        elif shape.nested is not None and fid == shape.nested[0]:
            _check(kind, _STRUCT, "a column chunk's metadata")
            pos = _struct_cuts(data, pos, start, cuts, shape.nested[1])
        elif kind > _FALSE:
            pos = _skip(data, pos, kind)


@dataclass(frozen=True)
class _Footer:
    """A part's footer, cut where the assembled file's footer differs from it."""

    #: Bytes before the row count, between it and the row groups' list, after the groups.
    head: bytes
    between: bytes
    tail: bytes
    rows: int
    #: Each row group's bytes and its cuts, one row (start, end, value, kind) per cut.
    groups: list[tuple[bytes, np.ndarray]]
    #: The Parquet file, and where its column chunks end.
    parquet: memoryview
    body_end: int


def _scan(parquet: bytes) -> list[int]:
    """The index of a Parquet file of parts: ``[footer start, rows, rows' value start and
    end, row groups' list value start and end, number of groups, then per group its start,
    end, number of cuts and the cuts (start, end, value, kind)]``, positions in the footer."""
    if len(parquet) < 12 or parquet[:4] != MAGIC or parquet[-4:] != MAGIC:
        raise InvalidInputError("a Parquet part must start and end with PAR1")
    size = int.from_bytes(parquet[-8:-4], "little")
    start = len(parquet) - 8 - size
    if start < 4:
        raise InvalidInputError("a Parquet part's footer is longer than the part")
    data = parquet[start:-8]
    try:
        fields = _struct_fields(data, 0)
        if fields[-1][3] != len(data):
            raise InvalidInputError("a Parquet part's footer does not fill its length")
        spans = {fid: (kind, lo, hi) for fid, kind, lo, hi in fields}
        _check(spans[_FILE_ROWS][0], _I64, "the row count")
        _check(spans[_FILE_GROUPS][0], _LIST, "the row groups")
        _, rows_lo, rows_hi = spans[_FILE_ROWS]
        _, groups_lo, groups_hi = spans[_FILE_GROUPS]
        head = data[groups_lo]
        pos = groups_lo + 1
        count = head >> 4
        if count == 15:
            count, pos = _varint(data, pos)
        index = [start, _integer(data, rows_lo)[0], rows_lo, rows_hi, groups_lo, groups_hi]
        index.append(count)
        for _ in range(count):
            end, cuts = _group_cuts(data, pos)
            index += [pos, end, len(cuts)]
            for cut in cuts:
                index += cut
            pos = end
    except (IndexError, KeyError) as exc:
        raise InvalidInputError("a Parquet part's footer is cut short or malformed") from exc
    return index


def _footer(part: bytes) -> _Footer:
    """A part's footer, from its index."""
    view = memoryview(part)
    try:
        size = int.from_bytes(view[:8], "little")
        index = np.frombuffer(view[8 : 8 + size], dtype="<i8")
        parquet = view[8 + size :]
        start, rows, rows_lo, rows_hi, groups_lo, groups_hi, count = index[:7].tolist()
        data = bytes(parquet[start:-8])
        groups: list[tuple[bytes, np.ndarray]] = []
        at = 7
        for _ in range(count):
            lo, hi, n = index[at : at + 3].tolist()
            cuts = index[at + 3 : at + 3 + 4 * n].reshape(n, 4)
            groups.append((data[lo:hi], cuts))
            at += 3 + 4 * n
    except (ValueError, TypeError) as exc:
        raise InvalidInputError("not a crowdalpha Parquet part") from exc
    if len(parquet) < 12 or parquet[:4] != MAGIC or parquet[-4:] != MAGIC or at != len(index):
        raise InvalidInputError("not a crowdalpha Parquet part")
    return _Footer(
        head=data[:rows_lo],
        between=data[rows_hi:groups_lo],  # the row groups' field header
        tail=data[groups_hi:],
        rows=rows,
        groups=groups,
        parquet=parquet,
        body_end=start,
    )


def part_rows(part: bytes) -> int:
    """The rows a part holds."""
    return _footer(part).rows


def parquet_of(part: bytes) -> bytes:
    """The Parquet file inside a part (readable on its own)."""
    return bytes(_footer(part).parquet)


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zigzag varints of int64 ``values`` (what :func:`_zigzag` writes for each): their
    bytes one after the other, and how many each takes."""
    zigzag = ((values << 1) ^ (values >> 63)).view(np.uint64)
    sizes = np.ones(len(zigzag), dtype=np.int64)
    rest = zigzag >> np.uint64(7)
    while rest.any():  # at most nine more bytes
        sizes += rest != 0
        rest >>= np.uint64(7)
    place = np.arange(10)
    digits = (zigzag[:, None] >> (place * 7).astype(np.uint64)) & np.uint64(0x7F)
    digits |= np.where(place < sizes[:, None] - 1, np.uint64(0x80), np.uint64(0))
    return digits[place < sizes[:, None]].astype(np.uint8), sizes


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Every index of the ranges ``[start, start + length)``, one range after the other."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    ranges: np.ndarray = np.arange(total) + np.repeat(starts - (ends - lengths), lengths)
    return ranges


def _relocated(group: bytes, cuts: np.ndarray, shift: int, ordinal: int) -> bytes:
    """A row group's bytes with its offsets moved by ``shift`` and its ordinal set: each
    cut's integer written anew (its length may change), the bytes between cuts kept."""
    if not len(cuts):
        return group
    lo, hi, value, kind = cuts.T
    digits, sizes = _varints(np.where(kind == _ORDINAL, ordinal, value + shift))
    width = hi - lo
    source = np.frombuffer(group, dtype=np.uint8)
    kept = np.ones(len(source), dtype=bool)
    kept[_ranges(lo, width)] = False
    # Each new integer starts where its cut did, moved by the cuts' change in length before it.
    starts = lo - (np.cumsum(width) - width) + (np.cumsum(sizes) - sizes)
    out = np.empty(len(source) - int(width.sum()) + int(sizes.sum()), dtype=np.uint8)
    written = _ranges(starts, sizes)
    between = np.ones(len(out), dtype=bool)
    between[written] = False
    out[written] = digits
    out[between] = source[kept]
    return out.tobytes()


def _list_header(size: int, element: int) -> bytes:
    if size < 15:
        return bytes([size << 4 | element])
    out = bytearray([0xF0 | element])
    while size >= 0x80:
        out.append((size & 0x7F) | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out)


class PartAssembler:
    """Writes one Parquet file from parts appended in order.

    The file is written to ``path`` + ``.partial`` and renamed into place by :meth:`close`;
    :meth:`abort` removes it. Memory holds the footer being gathered, not the data.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._out: BinaryIO | None = self._partial.open("wb")
        self._out.write(MAGIC)
        self._position = len(MAGIC)
        self._shape: tuple[bytes, bytes, bytes] | None = None
        self._groups: list[bytes] = []
        self.rows = 0

    def append(self, part: bytes) -> int:
        """Copy one part's row groups to the file; returns the rows they hold."""
        if self._out is None:
            raise InvalidInputError("this file is closed")
        footer = _footer(part)
        shape = (footer.head, footer.between, footer.tail)
        if self._shape is None:
            self._shape = shape
        elif shape != self._shape:
            raise InvalidInputError("Parquet parts of one file must share schema and metadata")
        shift = self._position - len(MAGIC)
        for group, cuts in footer.groups:
            self._groups.append(_relocated(group, cuts, shift, len(self._groups)))
        self._out.write(footer.parquet[len(MAGIC) : footer.body_end])
        self._position += footer.body_end - len(MAGIC)
        self.rows += footer.rows
        return footer.rows

    def close(self) -> None:
        """Write the footer and move the file into place."""
        if self._out is None:
            return
        if self._shape is None:
            self.abort()
            raise InvalidInputError(f"{self.path.name} needs at least one part")
        head, between, tail = self._shape
        out = self._out
        size = 0
        for piece in (
            head,
            _zigzag(self.rows),
            between,
            _list_header(len(self._groups), _STRUCT),
            *self._groups,
            tail,
        ):
            out.write(piece)
            size += len(piece)
        out.write(size.to_bytes(4, "little") + MAGIC)
        out.close()
        self._out = None
        self._groups = []
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        """Stop and remove what was written."""
        if self._out is not None:
            self._out.close()
            self._out = None
        self._groups = []
        self._partial.unlink(missing_ok=True)
