"""Read a prediction file and check it against the tournament's submission rules.

The rules are numerai-tools' (``numerai_tools/submissions.py``, 0.7.2), applied in the same
order and with the same tolerances, so a file is accepted here exactly when Numerai's own
validation accepts it:

1. **Headers** — exactly two columns, the id column first. Classic: ``id`` then
   ``prediction`` (or ``probability``). Signals: one of ``ticker``, ``sedol``,
   ``bloomberg_ticker``, ``composite_figi``, ``numerai_ticker`` then ``prediction`` (or
   ``signal``); one ``date``/``friday_date`` column and a deprecated ``data_type`` column
   may sit anywhere and are set aside.
2. **Ids** — no row without an id; no live id twice; Classic covers every live id, Signals
   at least :data:`SIGNALS_MIN_TICKERS` live tickers. Ids outside the live set are allowed,
   ignored and reported. Ids are compared as strings.
3. **Values** (live rows only) — no NaN; within [0, 1] (a minimum within 1e-8 of 0 and a
   maximum within 1e-8 + 1e-5 of 1 pass, as ``numpy.isclose`` has it); a sample standard
   deviation not ``isclose`` to 0 (so not below ≈ 1e-8).

Every refusal is a :class:`~crowdalpha.errors.SubmissionError` whose ``code``
(``invalid_submission_headers``, ``invalid_submission_ids``, ``invalid_submission_values``,
``invalid_submission_file``) is numerai-tools' message prefix, whose message says what to
fix, and whose ``details`` carry a ``reason``, counts and a few example ids.

Reading (:func:`read_submission`) is ours — numerai-tools starts from a DataFrame. Its
decisions: the format is told by content (Parquet by its ``PAR1`` magic, gzip by ``1f 8b``,
anything else is CSV in UTF-8); a UTF-8 byte-order mark and spaces around CSV header names
are dropped (spreadsheets add them, nobody means them), but names stay case-sensitive and id
*values* are kept exactly as written; a Parquet file's pandas index, when named, is read as
a column placed first (as ``reset_index()`` would), an unnamed one is dropped; a column no
tournament accepts is refused at once, before any row is read.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import re
import warnings
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, NoReturn, TypeAlias

import numpy as np
import pandas as pd

from crowdalpha.errors import (
    InvalidParameterError,
    SubmissionFileError,
    SubmissionHeadersError,
    SubmissionIdsError,
    SubmissionValuesError,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CLASSIC_ID_COLUMNS",
    "CLASSIC_PREDICTION_COLUMNS",
    "MAX_EXPANSION",
    "SIGNALS_DATE_COLUMNS",
    "SIGNALS_ID_COLUMNS",
    "SIGNALS_MIN_TICKERS",
    "SIGNALS_PREDICTION_COLUMNS",
    "TOURNAMENTS",
    "LiveIds",
    "SubmissionSource",
    "Tournament",
    "ValidatedSubmission",
    "file_sha256",
    "load_and_validate",
    "read_submission",
    "validate_submission",
]

Tournament: TypeAlias = Literal["classic", "signals"]
#: What :func:`read_submission` reads: the file's bytes, a path, or a binary file object.
SubmissionSource: TypeAlias = "bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]"
#: The round's live ids (a sequence, Index or Series), or for Signals a universe DataFrame
#: with one column per id type (``ticker``, ``sedol``…), as numerai-tools takes it.
LiveIds: TypeAlias = "Sequence[str] | pd.Index | pd.Series | pd.DataFrame"

TOURNAMENTS: Final = ("classic", "signals")
CLASSIC_ID_COLUMNS: Final = ("id",)
CLASSIC_PREDICTION_COLUMNS: Final = ("prediction", "probability")
SIGNALS_ID_COLUMNS: Final = (
    "ticker",
    "sedol",
    "bloomberg_ticker",
    "composite_figi",
    "numerai_ticker",
)
SIGNALS_PREDICTION_COLUMNS: Final = ("prediction", "signal")
SIGNALS_DATE_COLUMNS: Final = ("friday_date", "date")
#: Signals needs at least this many distinct live tickers (numerai-tools' rule).
SIGNALS_MIN_TICKERS: Final = 100
#: With ``max_bytes`` set, what a file decompresses to (gzip, Parquet column chunks) may be
#: at most this many times ``max_bytes``: well above what real predictions compress by
#: (≈ 3×), far below a decompression bomb.
MAX_EXPANSION: Final = 50

_DEPRECATED_COLUMNS: Final = ("data_type",)
_ID_COLUMNS: Final = frozenset(CLASSIC_ID_COLUMNS + SIGNALS_ID_COLUMNS)
_PREDICTION_COLUMNS: Final = frozenset(CLASSIC_PREDICTION_COLUMNS + SIGNALS_PREDICTION_COLUMNS)
_KNOWN_COLUMNS: Final = (
    _ID_COLUMNS | _PREDICTION_COLUMNS | frozenset(SIGNALS_DATE_COLUMNS + _DEPRECATED_COLUMNS)
)
# pandas' default missing-value spellings; they mean NaN in a prediction column only (an
# id such as "NA" is a ticker, and only an empty field is a missing id).
_NA_SPELLINGS: Final = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
_PARQUET_MAGIC: Final = b"PAR1"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
_INDEX_LEVEL: Final = re.compile(r"__index_level_\d+__")
_EXAMPLES: Final = 5
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


@dataclass(frozen=True, eq=False)
class ValidatedSubmission:
    """A submission that passed every rule, reduced to what scoring needs.

    ``predictions`` holds one float64 per submitted live id, indexed by that id (as a
    string) in the order of the live ids given to :func:`validate_submission` — every live
    id for Classic, the submitted ones for Signals. Values are as submitted (a tolerated
    ``-1e-9`` is not clipped). ``rows`` counts the submission's rows, ``unknown_ids`` the
    distinct ids outside the live set (ignored), ``sha256`` the raw file's digest when the
    submission was read from a file by :func:`load_and_validate`.
    """

    predictions: pd.Series
    tournament: Tournament
    id_column: str
    prediction_column: str
    rows: int
    unknown_ids: int
    unknown_id_examples: tuple[str, ...] = ()
    date_column: str | None = None
    sha256: str | None = None

    @property
    def live_rows(self) -> int:
        """How many live ids the submission predicts."""
        return len(self.predictions)


# --- reading ----------------------------------------------------------------------------


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
    rules are checked by :func:`validate_submission`.

    Raises :class:`~crowdalpha.errors.SubmissionFileError` for an unreadable, empty or
    too-large file, :class:`~crowdalpha.errors.SubmissionValuesError` for a prediction that
    is not a number.
    """
    raw, name = _read_raw(data, filename, max_bytes)
    return _parse(raw, name, max_bytes)


def _read_raw(
    data: SubmissionSource, filename: str | None, max_bytes: int | None
) -> tuple[bytes, str]:
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


def _parse(raw: bytes, name: str, max_bytes: int | None) -> pd.DataFrame:
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
        return _read_parquet(raw, name, limit)
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
    unexpected = [c for c in columns if c not in _KNOWN_COLUMNS]
    if unexpected:
        shown = ", ".join(repr(c) for c in unexpected[:_EXAMPLES])
        more = f" and {len(unexpected) - _EXAMPLES} more" if len(unexpected) > _EXAMPLES else ""
        raise SubmissionHeadersError(
            f"{name} has unexpected column(s) {shown}{more}: a submission holds exactly an id "
            "column (id for Classic; ticker, sedol, bloomberg_ticker, composite_figi or "
            "numerai_ticker for Signals) and a prediction column (prediction or probability; "
            f"prediction or signal for Signals){_header_hint(columns)}",
            details={
                "reason": "unexpected_columns",
                "unexpected_columns": [str(c) for c in unexpected[:20]],
                "unexpected_count": len(unexpected),
            },
        )


def _header_hint(columns: Sequence[object], index_name: object = None) -> str:
    names = [c for c in columns if isinstance(c, str)]
    if any(re.fullmatch(r"Unnamed: \d+", c) for c in names):
        return (
            "; a column has no name — usually the index written without a label: write "
            "preds.to_csv(path, index_label='id') or name the index 'id'"
        )
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        return "; the file seems separated by semicolons or tabs: separate fields with commas"
    if index_name in _ID_COLUMNS and len(columns) == 1:
        return f"; the ids are the index ({index_name!r}): call frame.reset_index() first"
    lowered = [c for c in names if c != c.lower() and c.lower() in _KNOWN_COLUMNS]
    if lowered:
        return f"; names are case-sensitive: rename {lowered[0]!r} to {lowered[0].lower()!r}"
    return ""


def _role(column: object) -> str:
    return "prediction" if column in _PREDICTION_COLUMNS else "text"


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
        return fast
    return _read_csv_pandas(raw, name)


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
    if len(set(names)) != len(names) or not all(n in _KNOWN_COLUMNS for n in names):
        return None
    # pandas ends a line at a lone "\r" too; a quote would change how fields split
    if b'"' in raw or b"\x00" in raw:
        return None
    if b"\r" in raw and raw.count(b"\r") != raw.count(b"\r\n"):
        return None
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa_csv.read_csv(
            pa.py_buffer(raw),
            read_options=pa_csv.ReadOptions(use_threads=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={
                    n: pa.float64() if _role(n) == "prediction" else pa.large_string()
                    for n in names
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
        if _role(col) == "prediction":
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
        r: ("float64" if _role(c) == "prediction" else str)
        for r, c in zip(raw_names, names, strict=True)
    }
    na_values = {
        r: (list(_NA_SPELLINGS) if _role(c) == "prediction" else [""])
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
        if _role(col) != "prediction":
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
        bad = (pd.to_numeric(text, errors="coerce").isna() & ~text.isin(_NA_SPELLINGS)).to_numpy()
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
        if _role(col) == "prediction":
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


# --- validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rules:
    id_columns: tuple[str, ...]
    prediction_columns: tuple[str, ...]


_RULES: Final = {
    "classic": _Rules(CLASSIC_ID_COLUMNS, CLASSIC_PREDICTION_COLUMNS),
    "signals": _Rules(SIGNALS_ID_COLUMNS, SIGNALS_PREDICTION_COLUMNS),
}


def validate_submission(
    frame: pd.DataFrame,
    live_ids: LiveIds,
    *,
    tournament: Tournament = "classic",
    min_tickers: int | None = None,
) -> ValidatedSubmission:
    """Apply the submission rules (see the module docstring) to a submission frame.

    ``live_ids`` are the round's live ids (unique; compared as strings). For Signals they
    may be a universe DataFrame with a column per id type; the submission's id column picks
    one. ``min_tickers`` overrides :data:`SIGNALS_MIN_TICKERS` (a small universe); Classic
    always needs every live id. The frame is not modified.

    Raises :class:`~crowdalpha.errors.SubmissionHeadersError`,
    :class:`~crowdalpha.errors.SubmissionIdsError` or
    :class:`~crowdalpha.errors.SubmissionValuesError`, checked in that order;
    :class:`~crowdalpha.errors.InvalidParameterError` for the caller's own mistakes (an
    unknown tournament, empty or repeated live ids).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(
            f"a submission must be a pandas DataFrame, not {type(frame).__name__}"
        )
    if tournament not in _RULES:
        raise InvalidParameterError(
            f"unknown tournament {tournament!r}: use one of {', '.join(TOURNAMENTS)}"
        )
    if min_tickers is not None and tournament != "signals":
        raise InvalidParameterError("min_tickers applies to Signals only")
    if min_tickers is not None and (isinstance(min_tickers, bool) or min_tickers < 1):
        raise InvalidParameterError(f"min_tickers must be at least 1, not {min_tickers!r}")
    rules = _RULES[tournament]

    # 1. headers
    columns = list(frame.columns)
    date_column: str | None = None
    if tournament == "signals":
        columns = [c for c in columns if c not in _DEPRECATED_COLUMNS]
        for c in columns:
            if c in SIGNALS_DATE_COLUMNS:
                date_column = str(c)
                columns.remove(c)
                break
    id_col, pred_col = _check_headers(columns, rules, tournament, frame.index.name)

    # 2. ids
    live = _live_index(live_ids, id_col)
    ids = frame[id_col]
    if _in_live_order(ids, live):
        # The usual upload: live.parquet's ids, in its order. Then every id is present,
        # live and given once, and the predictions need no reindexing.
        return _validated_in_order(
            frame, live, id_col, pred_col, tournament, min_tickers, date_column
        )
    missing = ids.isna().to_numpy()
    if missing.any():
        rows = (np.flatnonzero(missing)[:_EXAMPLES] + 1).tolist()
        raise SubmissionIdsError(
            f"{int(missing.sum())} row(s) have no id in column {id_col!r} (e.g. data rows "
            f"{_join(rows)}): give every row the id of a live row",
            details={"reason": "missing_id_values", "count": int(missing.sum()), "rows": rows},
        )
    submitted = ids.astype(str).to_numpy(dtype=object)
    in_live = np.asarray(pd.Index(submitted, dtype=object).isin(live), dtype=bool)
    live_submitted = submitted[in_live]
    repeated = pd.Index(live_submitted).duplicated()
    unknown = pd.unique(submitted[~in_live])
    unknown_examples = tuple(str(u) for u in unknown[:_EXAMPLES])
    if repeated.any():
        twice = pd.unique(live_submitted[repeated])
        raise SubmissionIdsError(
            f"{len(twice)} live id(s) appear more than once, e.g. "
            f"{_join(twice[:_EXAMPLES])}: submit exactly one prediction per id",
            details={
                "reason": "duplicate_ids",
                "count": len(twice),
                "examples": [str(t) for t in twice[:_EXAMPLES]],
            },
        )
    unknown_note = (
        f"; {len(unknown)} submitted id(s) are not live this round, e.g. "
        f"{_join(unknown_examples)}: are you predicting this round's live data?"
        if len(unknown)
        else ""
    )
    if tournament == "classic":
        if len(live_submitted) < len(live):
            absent = live[~live.isin(live_submitted)]
            raise SubmissionIdsError(
                f"{len(absent)} live id(s) are missing from the submission, e.g. "
                f"{_join(absent[:_EXAMPLES])}: predict every row of live.parquet{unknown_note}",
                details={
                    "reason": "missing_live_ids",
                    "count": len(absent),
                    "examples": [str(a) for a in absent[:_EXAMPLES]],
                    "live_ids": len(live),
                    "unknown_ids": len(unknown),
                    "unknown_examples": list(unknown_examples),
                },
            )
    else:
        _check_enough_tickers(
            len(live_submitted), min_tickers, id_col, len(unknown), unknown_examples, unknown_note
        )

    # 3. values (live rows only)
    raw_values = frame[pred_col]
    _check_numeric(raw_values, pred_col)
    values = raw_values.to_numpy(dtype=np.float64, na_value=np.nan)[in_live]
    _check_values(values, live_submitted, pred_col)

    predictions = pd.Series(values, index=pd.Index(live_submitted, dtype=object), name=None)
    order = live if tournament == "classic" else live[live.isin(live_submitted)]
    # reindex may hand back ``order`` itself as the index: rename a copy, never the
    # caller's live ids (the server shares one cached Index between threads)
    predictions = predictions.reindex(order)
    predictions.index = predictions.index.rename(str(id_col))
    predictions.name = "prediction"
    return ValidatedSubmission(
        predictions=predictions,
        tournament=tournament,
        id_column=str(id_col),
        prediction_column=str(pred_col),
        rows=len(frame),
        unknown_ids=len(unknown),
        unknown_id_examples=unknown_examples,
        date_column=date_column,
    )


def _in_live_order(ids: pd.Series, live: pd.Index) -> bool:
    """Whether the submitted ids are exactly the live ids, in the same order."""
    if len(ids) != len(live):
        return False
    submitted, expected = ids.array, live.array
    if not (
        isinstance(submitted, pd.arrays.ArrowStringArray)
        and isinstance(expected, pd.arrays.ArrowStringArray)
    ):
        return False
    # Arrow compares the string buffers directly (no Python objects); live ids hold no
    # nulls, so equal arrays also mean no missing id.
    return bool(submitted.__arrow_array__().equals(expected.__arrow_array__()))


def _validated_in_order(
    frame: pd.DataFrame,
    live: pd.Index,
    id_col: str,
    pred_col: str,
    tournament: Tournament,
    min_tickers: int | None,
    date_column: str | None,
) -> ValidatedSubmission:
    """:func:`validate_submission`'s outcome when the ids are the live ids in order."""
    if tournament == "signals":
        _check_enough_tickers(len(live), min_tickers, id_col, 0, (), "")
    raw_values = frame[pred_col]
    _check_numeric(raw_values, pred_col)
    values = np.array(raw_values.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    _check_values(values, live, pred_col)
    predictions = pd.Series(values, index=live.rename(str(id_col)), name="prediction")
    return ValidatedSubmission(
        predictions=predictions,
        tournament=tournament,
        id_column=str(id_col),
        prediction_column=str(pred_col),
        rows=len(frame),
        unknown_ids=0,
        unknown_id_examples=(),
        date_column=date_column,
    )


def _check_enough_tickers(
    count: int,
    min_tickers: int | None,
    id_col: str,
    unknown: int,
    unknown_examples: tuple[str, ...],
    unknown_note: str,
) -> None:
    """Signals: at least ``min_tickers`` (default :data:`SIGNALS_MIN_TICKERS`) live ids."""
    needed = SIGNALS_MIN_TICKERS if min_tickers is None else min_tickers
    if count < needed:
        raise SubmissionIdsError(
            f"only {count} submitted {id_col} value(s) are in this round's "
            f"live universe; at least {needed} are required: use the latest live "
            f"universe and check that the {id_col!r} column holds {id_col}s{unknown_note}",
            details={
                "reason": "not_enough_tickers",
                "count": count,
                "required": needed,
                "unknown_ids": unknown,
                "unknown_examples": list(unknown_examples),
            },
        )


def _check_numeric(raw_values: pd.Series, pred_col: str) -> None:
    if not pd.api.types.is_numeric_dtype(raw_values.dtype) or pd.api.types.is_complex_dtype(
        raw_values.dtype
    ):
        raise SubmissionValuesError(
            f"column {pred_col!r} must be numeric, not {raw_values.dtype}: submit floats",
            details={"reason": "non_numeric", "column": str(pred_col)},
        )


def _check_headers(
    columns: list[Any], rules: _Rules, tournament: str, index_name: object
) -> tuple[str, str]:
    if (
        len(columns) == 2
        and columns[0] in rules.id_columns
        and columns[1] in rules.prediction_columns
    ):
        return str(columns[0]), str(columns[1])
    ids = _alternatives(rules.id_columns)
    preds = _alternatives(rules.prediction_columns)
    hint = _header_hint(columns, index_name)
    if (
        not hint
        and len(columns) == 2
        and columns[1] in rules.id_columns
        and columns[0] in rules.prediction_columns
    ):
        hint = "; put the id column first"
    if not hint:
        other = "signals" if tournament == "classic" else "classic"
        if any(c in _RULES[other].id_columns for c in columns):
            hint = f"; this looks like a {other.capitalize()} submission"
    extra = " (plus an optional date or friday_date column)" if tournament == "signals" else ""
    raise SubmissionHeadersError(
        f"headers must be exactly {ids} followed by {preds}{extra}; got "
        f"{[str(c) for c in columns]}{hint}",
        details={
            "reason": "invalid_headers",
            "columns": [str(c) for c in columns],
            "expected_id_columns": list(rules.id_columns),
            "expected_prediction_columns": list(rules.prediction_columns),
        },
    )


def _alternatives(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"one of {', '.join(quoted[:-1])} or {quoted[-1]}"


def _live_index(live_ids: LiveIds, id_col: str) -> pd.Index:
    if isinstance(live_ids, str):
        raise InvalidParameterError("live_ids must be a sequence of ids, not one string")
    if isinstance(live_ids, pd.DataFrame):
        if id_col not in live_ids.columns:
            raise SubmissionHeadersError(
                f"this round's live universe has no {id_col!r} ids: use one of "
                f"{_join(str(c) for c in live_ids.columns if c in _ID_COLUMNS)} as id column",
                details={"reason": "unsupported_id_column", "column": id_col},
            )
        live: pd.Index = pd.Index(live_ids[id_col].dropna())
    elif (
        isinstance(live_ids, pd.Index)
        and live_ids.dtype != object
        and pd.api.types.is_string_dtype(live_ids.dtype)
    ):
        # Already strings (e.g. the tournament's cached index of a round): reuse it as it is,
        # so its hash table — built once — serves every upload of the round.
        live = live_ids
        if len(live) == 0:
            raise InvalidParameterError("live_ids is empty: there is nothing to predict")
        if live.hasnans:
            raise InvalidParameterError("live_ids contain missing values")
        if not live.is_unique:
            raise InvalidParameterError(
                f"live_ids repeat ids, e.g. {_join(pd.unique(live[live.duplicated()])[:_EXAMPLES])}"
            )
        return live
    else:
        live = pd.Index(live_ids)
    if len(live) == 0:
        raise InvalidParameterError("live_ids is empty: there is nothing to predict")
    if live.hasnans:
        raise InvalidParameterError("live_ids contain missing values")
    live = pd.Index(live.astype(str))
    if not live.is_unique:
        raise InvalidParameterError(
            f"live_ids repeat ids, e.g. {_join(pd.unique(live[live.duplicated()])[:_EXAMPLES])}"
        )
    return live


def _check_values(
    values: np.ndarray[Any, Any], ids: np.ndarray[Any, Any] | pd.Index, column: str
) -> None:
    nan = np.isnan(values)
    if nan.any():
        raise SubmissionValuesError(
            f"{int(nan.sum())} prediction(s) in {column!r} are NaN, e.g. for ids "
            f"{_join(ids[nan][:_EXAMPLES])}: predict a number for every live id",
            details={
                "reason": "nan_predictions",
                "count": int(nan.sum()),
                "examples": [str(i) for i in ids[nan][:_EXAMPLES]],
            },
        )
    # numerai-tools: all within [0, 1], or a minimum isclose to 0 / a maximum isclose to 1.
    low, high = float(values.min()), float(values.max())
    if not ((low >= 0 or np.isclose(low, 0)) and (high <= 1 or np.isclose(high, 1))):
        outside = ((values < 0) & ~np.isclose(values, 0)) | ((values > 1) & ~np.isclose(values, 1))
        raise SubmissionValuesError(
            f"{int(outside.sum())} prediction(s) in {column!r} are outside [0, 1] (min {low:g}, "
            f"max {high:g}), e.g. for ids {_join(ids[outside][:_EXAMPLES])}: map them into "
            "[0, 1], e.g. with preds.rank(pct=True)",
            details={
                "reason": "out_of_range",
                "count": int(outside.sum()),
                "min": low,
                "max": high,
                "examples": [str(i) for i in ids[outside][:_EXAMPLES]],
            },
        )
    std = float(pd.Series(values).std())
    if np.isclose(0, std):
        raise SubmissionValuesError(
            f"the predictions in {column!r} are constant (standard deviation {std:.3g}): a "
            "submission must rank the live rows — check that your model saw the live features",
            details={"reason": "zero_std", "std": std},
        )


def _join(items: Iterable[object]) -> str:
    return ", ".join(str(i) for i in items)


# --- both -------------------------------------------------------------------------------


def load_and_validate(
    data: SubmissionSource,
    live_ids: LiveIds,
    *,
    tournament: Tournament = "classic",
    filename: str | None = None,
    max_bytes: int | None = None,
    min_tickers: int | None = None,
) -> ValidatedSubmission:
    """:func:`read_submission` then :func:`validate_submission`, with the raw file's SHA-256.

    The source is read once; ``sha256`` is the digest of exactly the bytes received (before
    any decompression), so the same upload always has the same digest.
    """
    raw, name = _read_raw(data, filename, max_bytes)
    frame = _parse(raw, name, max_bytes)
    validated = validate_submission(frame, live_ids, tournament=tournament, min_tickers=min_tickers)
    return dataclasses.replace(validated, sha256=hashlib.sha256(raw).hexdigest())
