"""The era cache: an era's computed features and targets, kept between builds.

Building a round computes every era from prices; most of that work is the same from one
round to the next (appending a week of prices adds one era and makes a few eras' targets
known). The cache keeps each era's *unobfuscated* values — tickers, raw float32 features,
binned targets — in one file per era, named after its date, under a folder named after the
settings that shape the values (feature and target configuration, time cells, crowdalpha's
version and the file format). Those values serve any vault, obfuscation
mode, round number or split plan; they can be recomputed by anyone who holds the prices.

Beside them the cache keeps each era's published *part* (:mod:`crowdalpha.dataset.parts`:
the era's rows binned, keyed, shuffled and encoded as the round's file holds them), under a
key naming the era's values and everything the publishing used (vault, mode, label, split;
:meth:`~crowdalpha.dataset.layout.EraPublisher.key`). A later round that publishes the era
the same way — every train era, once its targets are all known — copies the part and
neither reads the era's values nor encodes them again. A part holds published data (ids and
bins, no key), one file per era and split, replaced when its key changes.

**What a cached era depends on.** :func:`~crowdalpha.dataset.build.build_round` computes
eras in *cells* of ``block_days`` trading days, anchored at the first day of the price
history, each from engines over one window of prices (the cell, plus the history its
features look back on and the future its targets look ahead to), restricted to the tickers
that trade in the cell. An era's values are a deterministic function of that computation's
inputs up to the era's last day of dependence — the era's day plus the targets' reach, or
the end of the window — *including* floating-point rounding: window statistics are
differences of cumulative sums started at the window's first day. Nothing depends on tickers
that first trade after that day: cross-sectional statistics take the tickers listed on the
day, and the market return is an exactly rounded sum (the same whatever other tickers the
window holds), so a listing in the last cell leaves its earlier eras alone. An era's
:func:`era_key` therefore hashes exactly that: the settings, the era, the window's first day
and every price row from it to the era's last day of dependence (which also says which
tickers trade by then and which of its
targets are known). Equal keys mean bit-identical values, so a build that reuses the cache
writes the same bytes as one that does not; any other change of input gives another key,
and the era is recomputed.

Files are written atomically (a temporary file, then a rename; one PUT to a bucket), through
a :class:`~crowdalpha.storage.FileStore`: a folder by default, or the bucket a Dask cluster's
workers share, so that an era computed on one machine serves a build on any other. A file
that carries another key, cannot be read or is of another shape is never used: the era is
recomputed and the file replaced, and the build reports how many files were damaged.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from crowdalpha.errors import NotFoundError
from crowdalpha.storage import FileStore, LocalFileStore

__all__ = [
    "CACHE_FORMAT",
    "CachedEra",
    "EraCache",
    "day_hashes",
    "era_key",
    "settings_key",
    "source_digest",
]

#: Version of the cache's file layout and keys; a change retires every older file.
CACHE_FORMAT = 2
#: The first bytes of a cached part, before its key (64 hex digits) and its SHA-256.
_PART_MAGIC = b"crowdalpha-part\n"
_PART_HEADER = len(_PART_MAGIC) + 64 + 32
#: What reading a damaged file raises.
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


@dataclass(frozen=True)
class CachedEra:
    """One era's values as a build computed them, before obfuscation."""

    tickers: npt.NDArray[np.str_]
    #: ``(features, rows)`` raw float32 values in the build's feature order.
    features: npt.NDArray[np.float32]
    #: ``(targets, rows)`` binned float32 targets in the build's target order.
    targets: npt.NDArray[np.float32]


def settings_key(*parts: object) -> str:
    """A hex digest of what shapes every era's values besides the prices.

    That is ``parts`` (the build's settings), the cache format, the versions of the
    numerical libraries and the source of the modules that compute eras — so that editing
    the feature code, even without a new release, retires the cache rather than serving
    values the code no longer computes.
    """
    h = hashlib.sha256()
    for part in (f"format={CACHE_FORMAT}", *(repr(p) for p in parts), _code()):
        h.update(part.encode() + b"\x1f")
    return h.hexdigest()


@functools.cache
def _code() -> str:
    """Library versions and a digest of the era-computing modules, read once per process."""
    import scipy

    digest = source_digest(
        "crowdalpha.dataset.build",
        "crowdalpha.dataset.cache",
        "crowdalpha.dataset.features",
        "crowdalpha.dataset.targets",
    )
    return f"numpy={np.__version__} pandas={pd.__version__} scipy={scipy.__version__} {digest}"


def source_digest(*modules: str) -> str:
    """A digest of the source of ``modules`` (dotted names), in order: what retires cached
    results when the code that computed them is edited, even without a new release."""
    h = hashlib.sha256()
    for module in modules:
        package, _, name = module.rpartition(".")
        h.update(files(package).joinpath(f"{name}.py").read_bytes())
    return h.hexdigest()


def day_hashes(frame: pd.DataFrame, days: pd.DatetimeIndex) -> list[bytes]:
    """A digest of each day's price rows (every column, in order) of a sorted price frame.

    ``days`` are the frame's trading days in order; the frame is sorted by (date, ticker).
    Text columns are digested as Arrow keeps them (the lengths, then the UTF-8 bytes, and
    which rows are missing), without a Python string per row.
    """
    bounds = np.searchsorted(frame["date"].to_numpy(), days.to_numpy(), side="left")
    ends = [*bounds[1:].tolist(), len(frame)]
    columns = [(name.encode(), _day_bytes(frame[name])) for name in frame.columns]
    out: list[bytes] = []
    for start, end in zip(bounds.tolist(), ends, strict=True):
        h = hashlib.sha256()
        for name, pieces in columns:
            h.update(name)
            for piece in pieces(start, end):
                h.update(piece)
        out.append(h.digest())
    return out


def _day_bytes(column: pd.Series) -> Callable[[int, int], list[bytes | memoryview]]:
    """The bytes of rows ``start … end - 1`` of a column, for :func:`day_hashes`."""
    if not pd.api.types.is_string_dtype(column):  # text by content, not by dtype alone
        values = column.to_numpy()
        if values.dtype != object:
            kind = str(values.dtype).encode()
            flat = np.ascontiguousarray(values)
            return lambda start, end: [kind, flat[start:end].tobytes()]
        column = column.astype(str)  # other objects: as their text
    text = pa.array(column, type=pa.large_string(), from_pandas=True)
    if isinstance(text, pa.ChunkedArray):  # a column Arrow already holds
        text = text.combine_chunks()
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset :]
    data = memoryview(text.buffers()[2] or b"")
    missing = np.asarray(text.is_null(), dtype=np.bool_)

    def pieces(start: int, end: int) -> list[bytes | memoryview]:
        span = offsets[start : end + 1]
        return [
            b"large_string",
            np.diff(span).tobytes(),
            data[span[0] : span[-1]] if len(span) > 1 else b"",
            missing[start:end].tobytes(),
        ]

    return pieces


def era_key(
    settings: str, date: pd.Timestamp, window_start: pd.Timestamp, prefix: bytes, reach: int
) -> str:
    """The key of an era's values: see the module docstring.

    ``prefix`` digests the price rows from ``window_start`` through the era's last day of
    dependence, ``reach`` trading days after ``date`` (fewer than the targets need while
    some are unknown).
    """
    h = hashlib.sha256()
    for part in (settings, f"{date:%Y-%m-%d}", f"{window_start:%Y-%m-%d}", str(reach)):
        h.update(part.encode() + b"\x1f")
    h.update(prefix)
    return h.hexdigest()


class EraCache:
    """Cached eras for one set of settings, under ``<settings key>/`` in a folder or in any
    :class:`~crowdalpha.storage.FileStore` — the store a Dask cluster's workers share."""

    def __init__(self, root: str | Path | FileStore, settings: str) -> None:
        self.store: FileStore = root if isinstance(root, FileStore) else LocalFileStore(root)
        self.prefix = settings[:24]
        self.settings = settings

    def key(self, date: pd.Timestamp) -> str:
        """The storage key of an era's file."""
        return f"{self.prefix}/{date:%Y-%m-%d}.npz"

    def probe(self, date: pd.Timestamp, key: str) -> Literal["hit", "miss", "damaged"]:
        """Whether a file computed from ``key``'s inputs is there, by its header alone (read
        lazily from a folder; a bucket sends the whole file): ``"miss"`` when there is none
        or it is stale, ``"damaged"`` when it cannot be read. A damaged body can still pass:
        :meth:`load` has the last word."""
        try:
            with self._open(date) as fh, np.load(fh, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
        except NotFoundError:
            return "miss"
        except _UNREADABLE:
            return "damaged"
        fresh = meta.get("key") == key and meta.get("settings") == self.settings
        return "hit" if fresh else "miss"

    def load(
        self, date: pd.Timestamp, key: str, n_features: int, n_targets: int
    ) -> tuple[CachedEra | None, bool]:
        """The era cached under ``key``, or None; the flag says the file there was damaged.

        No era comes back from a missing file, one computed from other inputs (another key,
        the normal way an era goes stale) or a damaged one — unreadable, truncated, failing
        its checksums or not of the shape the build expects.
        """
        try:
            fh = self._open(date)
        except NotFoundError:
            return None, False
        try:
            with fh, np.load(fh, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                if meta.get("key") != key or meta.get("settings") != self.settings:
                    return None, False
                tickers = np.asarray(data["tickers"])
                features = np.asarray(data["features"])
                targets = np.asarray(data["targets"])
        except _UNREADABLE:
            return None, True
        n = len(tickers)
        if (
            tickers.ndim != 1
            or tickers.dtype.kind != "U"
            or features.dtype != np.float32
            or features.shape != (n_features, n)
            or targets.dtype != np.float32
            or targets.shape != (n_targets, n)
        ):
            return None, True
        return CachedEra(tickers=tickers, features=features, targets=targets), False

    def save(self, date: pd.Timestamp, key: str, era: CachedEra) -> None:
        """Write an era atomically (the store's put: a temporary file renamed into place, or
        one PUT to a bucket)."""
        meta = json.dumps({"key": key, "settings": self.settings, "format": CACHE_FORMAT})
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=np.frombuffer(meta.encode(), dtype=np.uint8),
            tickers=np.asarray(era.tickers, dtype=np.str_),
            features=np.ascontiguousarray(era.features, dtype=np.float32),
            targets=np.ascontiguousarray(era.targets, dtype=np.float32),
        )
        self.store.put(self.key(date), buffer.getvalue())

    def part_name(self, date: pd.Timestamp, split: str) -> str:
        """The storage key of an era's part in a split."""
        return f"{self.prefix}/parts/{date:%Y-%m-%d}-{split}.part"

    def probe_part(self, date: pd.Timestamp, split: str, key: str) -> bool:
        """Whether the part stored for the era carries ``key`` (by its header alone from a
        folder; :meth:`load_part` checks the rest)."""
        name = self.part_name(date, split)
        path = self.store.local_path(name)
        try:
            if path is None:
                head = self.store.get(name)[:_PART_HEADER]
            else:
                with path.open("rb") as fh:
                    head = fh.read(_PART_HEADER)
        except (NotFoundError, FileNotFoundError):
            return False
        return head[: len(_PART_MAGIC) + 64] == _PART_MAGIC + key.encode()

    def load_part(self, date: pd.Timestamp, split: str, key: str) -> tuple[bytes | None, bool]:
        """The era's part stored under ``key``, or None; the flag says the file there was
        damaged (cut short, or its bytes fail their checksum)."""
        name = self.part_name(date, split)
        try:
            data = self.store.get(name)
        except NotFoundError:
            return None, False
        if data[: len(_PART_MAGIC) + 64] != _PART_MAGIC + key.encode():
            return None, not data.startswith(_PART_MAGIC)
        body = data[_PART_HEADER:]
        if hashlib.sha256(body).digest() != data[len(_PART_MAGIC) + 64 : _PART_HEADER]:
            return None, True
        return body, False

    def save_part(self, date: pd.Timestamp, split: str, key: str, part: bytes) -> None:
        """Store an era's part atomically under ``key``, replacing any other."""
        header = _PART_MAGIC + key.encode() + hashlib.sha256(part).digest()
        self.store.put(self.part_name(date, split), header + part)

    def _open(self, date: pd.Timestamp) -> BinaryIO:
        """The era's file, read lazily from a folder (a bucket sends it whole);
        ``NotFoundError`` when there is none."""
        name = self.key(date)
        path = self.store.local_path(name)
        if path is None:
            return io.BytesIO(self.store.get(name))
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"no cached era {name!r}") from None
