"""Read a prediction file — CSV, gzipped CSV or Parquet — into a DataFrame.

numerai-tools starts from a DataFrame; reading is ours. Its decisions: the format is told by
content (Parquet by its ``PAR1`` magic, gzip by ``1f 8b``, anything else is CSV in UTF-8); a
UTF-8 byte-order mark and spaces around CSV header names are dropped (spreadsheets add them,
nobody means them), but names stay case-sensitive and id *values* are kept exactly as
written; a Parquet file's pandas index, when named, is read as a column placed first (as
``reset_index()`` would), an unnamed one is dropped; a column no competition accepts is
refused at once, before any row is read.

A plain, well-formed CSV is read by pyarrow (:func:`_read_csv_fast`); anything irregular by
pandas, whose messages say what is wrong. Both give the same frame, bit for bit
(``tests/submissions/test_validate_fast.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, NoReturn, TypeAlias

import numpy as np
import pandas as pd

from crowdalpha.errors import (
    InvalidParameterError,
    SubmissionFileError,
    SubmissionHeadersError,
    SubmissionValuesError,
)
from crowdalpha.submissions import paths
from crowdalpha.submissions.columns import (
    EXAMPLES,
    KNOWN_COLUMNS,
    NA_SPELLINGS,
    header_hint,
    role,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MAX_EXPANSION",
    "SubmissionSource",
    "file_sha256",
    "parse",
    "read_raw",
    "read_submission",
]

#: What :func:`read_submission` reads: the file's bytes, a path, or a binary file object.
SubmissionSource: TypeAlias = "bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]"
#: With ``max_bytes`` set, what a file decompresses to (gzip, Parquet column chunks) may be
#: at most this many times ``max_bytes``: well above what real predictions compress by
#: (≈ 3×), far below a decompression bomb.
MAX_EXPANSION: Final = 50

_PARQUET_MAGIC: Final = b"PAR1"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
_INDEX_LEVEL: Final = re.compile(r"__index_level_\d+__")
_CHUNK: Final = 1 << 20
# What pandas reads a ``dtype=str`` CSV column into; the pyarrow fast path builds the same.
_STR_DTYPE: Final = pd.api.types.pandas_dtype(str)
# pandas < 3 parses floats with its own xstrtod, which can differ from pyarrow's
# correctly rounded parser in the last bit, and reads strings as objects: no fast path.
_FAST_CSV: Final = (
    int(pd.__version__.split(".")[0]) >= 3
    and isinstance(_STR_DTYPE, pd.StringDtype)
    and _STR_DTYPE.storage == "pyarrow"
)


def file_sha256(data: SubmissionSource) -> str:
    """The hex SHA-256 of a file's raw bytes (paths and file objects are read in chunks)."""
    digest = hashlib.sha256()
    if isinstance(data, bytes | bytearray | memoryview):
        digest.update(data)
    elif isinstance(data, str | os.PathLike):
        with _open_path(Path(data), "the submission") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    else:
        while chunk := _binary_read(data, _CHUNK, "the submission"):
            digest.update(chunk)
    return digest.hexdigest()


def read_submission(
    data: SubmissionSource,
    *,
    filename: str | None = None,
    max_bytes: int | None = None,
) -> pd.DataFrame:
    """Read a prediction file — CSV, gzipped CSV or Parquet — into a DataFrame.

    ``data`` is the file's bytes, a path (``str`` is always a path) or a binary file object.
    ``filename`` (the uploaded name) only serves messages and the hint that a ``.parquet``
    file without Parquet's magic is corrupt. ``max_bytes`` refuses larger files before they
    are read (and bounds what they decompress to by :data:`MAX_EXPANSION` × ``max_bytes``).

    The frame keeps the file's columns in order (a named Parquet index first), with id,
    date and ``data_type`` columns as strings (missing ids as NaN; only an empty field is a
    missing id) and prediction columns as float64. A column that no tournament accepts is
    refused here with :class:`~crowdalpha.errors.SubmissionHeadersError`; the exact header
    rules are checked by :func:`crowdalpha.submissions.validate_submission`.

    Raises :class:`~crowdalpha.errors.SubmissionFileError` for an unreadable, empty or
    too-large file, :class:`~crowdalpha.errors.SubmissionValuesError` for a prediction that
    is not a number.
    """
    raw, name = read_raw(data, filename, max_bytes)
    return parse(raw, name, max_bytes)


def read_raw(
    data: SubmissionSource, filename: str | None, max_bytes: int | None
) -> tuple[bytes, str]:
    """The file's raw bytes (at most ``max_bytes``) and the name messages call it by."""
    if max_bytes is not None and (isinstance(max_bytes, bool) or max_bytes < 1):
        raise InvalidParameterError(f"max_bytes must be a positive integer, not {max_bytes!r}")
    if isinstance(data, bytes | bytearray | memoryview):
        name = filename or "the submission"
        raw = bytes(data)
    elif isinstance(data, str | os.PathLike):
        path = Path(data)
        name = filename or path.name
        with _open_path(path, name) as fh:
            size = os.fstat(fh.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise _too_large(name, size, max_bytes)
            raw = _binary_read(fh, -1 if max_bytes is None else max_bytes + 1, name)
    else:
        name = filename or str(getattr(data, "name", "") or "the submission")
        raw = _binary_read(data, -1 if max_bytes is None else max_bytes + 1, name)
    if max_bytes is not None and len(raw) > max_bytes:
        raise _too_large(name, len(raw), max_bytes)
    return raw, name


def _open_path(path: Path, name: str) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise SubmissionFileError(
            f"no file at {path}", details={"reason": "not_found", "path": str(path)}
        ) from None
    except OSError as exc:
        raise SubmissionFileError(
            f"{name} cannot be opened: {exc.strerror or exc}",
            details={"reason": "unreadable", "path": str(path)},
        ) from None


def _binary_read(fh: object, size: int, name: str) -> bytes:
    read = getattr(fh, "read", None)
    if not callable(read):
        raise InvalidParameterError(
            f"a submission is bytes, a path or a binary file object, not {type(fh).__name__}"
        )
    chunk = read(size)
    if not isinstance(chunk, bytes | bytearray | memoryview):
        raise InvalidParameterError(
            f"{name} was opened in text mode: open it with open(path, 'rb') or pass its path"
        )
    return bytes(chunk)


def _too_large(name: str, size: int, max_bytes: int) -> SubmissionFileError:
    return SubmissionFileError(
        f"{name} is larger than the {_human(max_bytes)} limit (at least {_human(size)}): "
        "submit only the live rows, with just an id column and a prediction column",
        details={"reason": "too_large", "size_at_least": size, "max_bytes": max_bytes},
    )


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def parse(raw: bytes, name: str, max_bytes: int | None) -> pd.DataFrame:
    """A file's raw bytes as :func:`read_submission`'s frame (format told by content)."""
    limit = None if max_bytes is None else max_bytes * MAX_EXPANSION
    if not raw or (len(raw) <= 4096 and not raw.strip(_UTF8_BOM + b" \t\r\n")):
        raise SubmissionFileError(
            f"{name} is empty: write a header line (id,prediction) and one row per live id",
            details={"reason": "empty"},
        )
    if raw.startswith(_GZIP_MAGIC):
        raw = _gunzip(raw, name, limit)
        if not raw.strip(_UTF8_BOM + b" \t\r\n"):
            raise SubmissionFileError(
                f"{name} decompresses to an empty file: write a header line (id,prediction) "
                "and one row per live id",
                details={"reason": "empty"},
            )
    if raw.startswith(_PARQUET_MAGIC):
        frame = _read_parquet(raw, name, limit)
        paths.count("parquet")
        return frame
    if raw.startswith(_ZIP_MAGIC):
        raise SubmissionFileError(
            f"{name} is a ZIP archive (or an Excel workbook): submit a CSV, a .csv.gz or a "
            "Parquet file",
            details={"reason": "unsupported_format"},
        )
    if name.lower().endswith((".parquet", ".pq")):
        raise SubmissionFileError(
            f"{name} is not a Parquet file (it does not start with PAR1): write it with "
            "DataFrame.to_parquet, or send it as CSV",
            details={"reason": "corrupt_parquet"},
        )
    return _read_csv(raw, name)


def _gunzip(raw: bytes, name: str, limit: int | None) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
            out = fh.read(-1 if limit is None else limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SubmissionFileError(
            f"{name} is not a valid gzip file ({exc}): compress it again, or send it uncompressed",
            details={"reason": "corrupt_gzip"},
        ) from None
    if limit is not None and len(out) > limit:
        raise SubmissionFileError(
            f"{name} decompresses to over {_human(limit)}: submit only the live rows, with "
            "just an id column and a prediction column",
            details={"reason": "too_large", "max_decompressed_bytes": limit},
        )
    return out


def _clean_name(name: object) -> object:
    return name.replace("\ufeff", "").strip() if isinstance(name, str) else name


def _check_known_columns(columns: Sequence[object], name: str) -> None:
    """Refuse, before reading rows, a column that no tournament accepts or a repeated one."""
    seen: set[object] = set()
    repeated: list[object] = []
    for c in columns:
        mangled = re.fullmatch(r"(.+)\.\d+", c) if isinstance(c, str) else None
        if c in seen:
            repeated.append(c)
        elif mangled and mangled.group(1) in columns:  # pandas renames a repeated CSV header
            repeated.append(mangled.group(1))
        seen.add(c)
    if repeated:
        raise SubmissionHeadersError(
            f"{name}: column {repeated[0]!r} appears more than once: keep exactly one id "
            "column and one prediction column",
            details={"reason": "duplicate_columns", "columns": [str(c) for c in columns]},
        )
    unexpected = [c for c in columns if c not in KNOWN_COLUMNS]
    if unexpected:
        shown = ", ".join(repr(c) for c in unexpected[:EXAMPLES])
        more = f" and {len(unexpected) - EXAMPLES} more" if len(unexpected) > EXAMPLES else ""
        raise SubmissionHeadersError(
            f"{name} has unexpected column(s) {shown}{more}: a submission holds exactly an id "
            "column (id for Classic; ticker, sedol, bloomberg_ticker, composite_figi or "
            "numerai_ticker for Signals) and a prediction column (prediction or probability; "
            f"prediction or signal for Signals){header_hint(columns)}",
            details={
                "reason": "unexpected_columns",
                "unexpected_columns": [str(c) for c in unexpected[:20]],
                "unexpected_count": len(unexpected),
            },
        )


def _read_csv(raw: bytes, name: str) -> pd.DataFrame:
    if raw.startswith(_UTF16_BOMS):
        raise SubmissionFileError(
            f"{name} is UTF-16 text: save it as 'CSV UTF-8' (comma-separated)",
            details={"reason": "not_utf8"},
        )
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    fast = _read_csv_fast(raw)
    if fast is not None:
        paths.count("csv_arrow")
        return fast
    frame = _read_csv_pandas(raw, name)
    paths.count("csv_pandas")
    return frame


#: A line of nothing but spaces and tabs (pandas skips it as blank).
_BLANKISH_LINE = re.compile(rb"(?m)^[ \t]+\r?$")


def _read_csv_fast(raw: bytes) -> pd.DataFrame | None:
    """Read a plain, well-formed CSV with pyarrow, or ``None`` to leave it to pandas.

    Only files where pyarrow provably yields what :func:`_read_csv_pandas` yields are
    read here: a header of distinct known names written exactly (no spaces, quotes or
    BOM); no quote, NUL or lone carriage return anywhere; no empty field; every line
    with the header's number of fields; only finite numbers in prediction columns. Any
    irregularity (and any pyarrow error) answers ``None``, so pandas reads the file and
    every message stays as it was. Both pandas (≥ 3) and pyarrow parse floats with
    fast_float (correctly rounded), so the values agree bit for bit; NaN and infinity
    spellings differ between them (``NAN`` is a number to pyarrow, not to pandas), hence
    the finiteness condition.
    """
    if not _FAST_CSV:
        return None
    end = raw.find(b"\n")
    if end < 1:
        return None
    try:
        names = raw[:end].removesuffix(b"\r").decode("ascii").split(",")
    except UnicodeDecodeError:
        return None
    if len(set(names)) != len(names) or not all(n in KNOWN_COLUMNS for n in names):
        return None
    # pandas ends a line at a lone "\r" too; a quote would change how fields split
    if b'"' in raw or b"\x00" in raw:
        return None
    if b"\r" in raw and raw.count(b"\r") != raw.count(b"\r\n"):
        return None
    # pandas skips a line of only spaces or tabs; pyarrow reads it as a value when there is
    # one column (with more, the line is short of fields and pyarrow refuses it anyway)
    if len(names) == 1 and _BLANKISH_LINE.search(raw):
        return None
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa_csv.read_csv(
            pa.py_buffer(raw),
            read_options=pa_csv.ReadOptions(use_threads=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={
                    n: pa.float64() if role(n) == "prediction" else pa.large_string() for n in names
                },
                # only an empty field is null, and a null sends the file to pandas
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                check_utf8=True,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows == 0 or table.column_names != names:
        return None
    columns: dict[str, pd.Series] = {}
    for col, chunked in zip(names, table.columns, strict=True):
        if chunked.null_count:
            return None
        if role(col) == "prediction":
            values = chunked.to_numpy()
            if not np.isfinite(values).all():
                return None
            # one chunk is a read-only view of Arrow's buffer; own it, as pandas would
            columns[col] = pd.Series(values, dtype="float64", copy=not values.flags.writeable)
        else:
            columns[col] = pd.Series(pd.array(chunked, dtype=_STR_DTYPE))
    return pd.DataFrame(columns)


def _read_csv_pandas(raw: bytes, name: str) -> pd.DataFrame:
    empty = SubmissionFileError(
        f"{name} is empty: write a header line (id,prediction) and one row per live id",
        details={"reason": "empty"},
    )
    try:
        raw_names = list(pd.read_csv(io.BytesIO(raw), nrows=0, encoding="utf-8").columns)
    except pd.errors.EmptyDataError:
        raise empty from None
    except UnicodeDecodeError:
        raise _not_utf8(name) from None
    except pd.errors.ParserError as exc:
        raise _unreadable_csv(name, exc) from None
    names = [_clean_name(c) for c in raw_names]
    _check_known_columns(names, name)
    dtypes = {
        r: ("float64" if role(c) == "prediction" else str)
        for r, c in zip(raw_names, names, strict=True)
    }
    na_values = {
        r: (list(NA_SPELLINGS) if role(c) == "prediction" else [""])
        for r, c in zip(raw_names, names, strict=True)
    }
    try:
        with warnings.catch_warnings():
            # a row with more fields than the header: pandas warns and drops data; refuse
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(raw),
                dtype=dtypes,
                keep_default_na=False,
                na_values=na_values,
                index_col=False,
                encoding="utf-8",
            )
    except pd.errors.ParserWarning:
        raise _unreadable_csv(name, "a line has more fields than the header") from None
    except pd.errors.EmptyDataError:
        raise empty from None
    except UnicodeDecodeError:
        raise _not_utf8(name) from None
    except pd.errors.ParserError as exc:
        raise _unreadable_csv(name, exc) from None
    except ValueError:
        _raise_non_numeric_csv(raw, raw_names, names, name)
    frame.columns = pd.Index(names)
    if len(frame) == 0:
        raise SubmissionFileError(
            f"{name} has a header but no rows: write one row per live id",
            details={"reason": "no_rows"},
        )
    return frame


def _not_utf8(name: str) -> SubmissionFileError:
    return SubmissionFileError(
        f"{name} is neither Parquet nor UTF-8 text: submit a CSV (UTF-8), a .csv.gz or a "
        "Parquet file",
        details={"reason": "not_utf8"},
    )


def _unreadable_csv(name: str, exc: Exception | str | None = None) -> SubmissionFileError:
    cause = f" ({str(exc).strip()})" if exc is not None else ""
    return SubmissionFileError(
        f"{name} is not a readable CSV{cause}: every line needs exactly the header's fields, "
        "separated by commas",
        details={"reason": "unreadable_csv"},
    )


def _raise_non_numeric_csv(
    raw: bytes, raw_names: Sequence[object], names: Sequence[object], name: str
) -> NoReturn:
    for raw_col, col in zip(raw_names, names, strict=True):
        if role(col) != "prediction":
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                text = pd.read_csv(
                    io.BytesIO(raw),
                    usecols=[raw_col],
                    dtype=str,
                    keep_default_na=False,
                    index_col=False,
                    encoding="utf-8",
                )[raw_col]
        except (ValueError, pd.errors.ParserWarning):  # ParserError is a ValueError
            break  # lines of the wrong length: the file as a whole is unreadable
        bad = (pd.to_numeric(text, errors="coerce").isna() & ~text.isin(NA_SPELLINGS)).to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise SubmissionValuesError(
                f"{name}: column {col!r} must hold numbers, but data row {first + 1} "
                f"holds {str(text.iloc[first])[:40]!r}: write plain decimal numbers",
                details={"reason": "non_numeric", "column": str(col), "count": int(bad.sum())},
            )
    raise _unreadable_csv(name)


def _read_parquet(raw: bytes, name: str, limit: int | None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(pa.BufferReader(raw))
        schema = pfile.schema_arrow
        meta = pfile.metadata
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SubmissionFileError(
            f"{name} is a corrupt or truncated Parquet file ({exc}): write it again with "
            "DataFrame.to_parquet, or send it as CSV",
            details={"reason": "corrupt_parquet"},
        ) from None
    stored = list(schema.names)
    index_columns = _pandas_index_columns(schema)
    keep = [c for c in index_columns if c in stored and not _INDEX_LEVEL.fullmatch(c)]
    keep += [c for c in stored if c not in keep and not _INDEX_LEVEL.fullmatch(c)]
    names = [_clean_name(c) for c in keep]
    _check_known_columns(names, name)
    if meta.num_rows == 0:
        raise SubmissionFileError(
            f"{name} has columns but no rows: write one row per live id",
            details={"reason": "no_rows"},
        )
    # encoded size, or — for run-length or dictionary encoded columns, which expand in
    # memory — at least 16 bytes a row (a float and a string's offset)
    expanded = max(
        sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)),
        16 * meta.num_rows,
    )
    if limit is not None and expanded > limit:
        raise SubmissionFileError(
            f"{name} decompresses to over {_human(limit)}: submit only the live rows, with "
            "just an id column and a prediction column",
            details={"reason": "too_large", "max_decompressed_bytes": limit},
        )
    try:
        table = pfile.read(columns=keep, use_pandas_metadata=False)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SubmissionFileError(
            f"{name} is a corrupt or truncated Parquet file ({exc}): write it again with "
            "DataFrame.to_parquet, or send it as CSV",
            details={"reason": "corrupt_parquet"},
        ) from None
    columns: dict[Any, pd.Series] = {}
    for position, col in enumerate(names):
        chunked = table.column(position)
        if role(col) == "prediction":
            columns[col] = _parquet_floats(chunked, col, name)
        else:
            columns[col] = _as_text(chunked.to_pandas())
    return pd.DataFrame(columns)


def _pandas_index_columns(schema: pa.Schema) -> list[str]:
    try:
        meta = json.loads((schema.metadata or {})[b"pandas"])
        return [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    except (KeyError, ValueError, TypeError, AttributeError):
        return []


def _parquet_floats(chunked: pa.ChunkedArray, col: object, name: str) -> pd.Series:
    import pyarrow as pa

    kind = chunked.type
    if not (
        pa.types.is_floating(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
    ):
        raise SubmissionValuesError(
            f"{name}: column {col!r} must be numeric (float), but it is {kind}: write the "
            "predictions as floats",
            details={"reason": "non_numeric", "column": str(col), "type": str(kind)},
        )
    values = chunked.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return pd.Series(np.asarray(values, dtype=np.float64), dtype="float64")


def _as_text(values: pd.Series) -> pd.Series:
    """Values as strings, missing values kept missing (never the string ``"nan"``)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    missing = values.isna()
    return values.astype(str).mask(missing)
