"""Where files live: datasets, submissions, meta models — behind one small interface.

:class:`LocalFileStore` (a folder) is the embedded default; an S3-compatible bucket can
implement :class:`FileStore` later without touching its callers. Keys are ``/``-separated
relative paths; writes are atomic (a temporary file renamed into place), so a reader never
sees half a file and a crash leaves nothing half-written.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from crowdalpha.errors import InvalidInputError, NotFoundError

__all__ = ["FileStore", "LocalFileStore"]


class FileStore(ABC):
    """A flat namespace of immutable-by-convention files addressed by key."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (replacing what was there)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``NotFoundError`` if there are none."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if present (no error when absent)."""

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix``, sorted."""

    @abstractmethod
    def modified(self, key: str) -> datetime:
        """When ``key`` was last written (UTC); ``NotFoundError`` if absent."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for ``key`` when the store has one (servers stream from it)."""
        return None


def _check_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        raise InvalidInputError(f"{key!r} is not a valid storage key (relative, no '..')")
    return path


class LocalFileStore(FileStore):
    """Files under a root folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no stored file {key!r}", details={"key": key}) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"no stored file {key!r}", details={"key": key}) from None

    def modified(self, key: str) -> datetime:
        try:
            return datetime.fromtimestamp(self._path(key).stat().st_mtime, tz=UTC)
        except FileNotFoundError:
            raise NotFoundError(f"no stored file {key!r}", details={"key": key}) from None

    def keys(self, prefix: str = "") -> Iterator[str]:
        # walk only the folder the prefix names (not the whole store), then filter
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = self.root.joinpath(*_check_key(folder).parts) if folder else self.root
        found = sorted(
            p.relative_to(self.root).as_posix()
            for p in top.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        yield from (k for k in found if k.startswith(prefix))

    def local_path(self, key: str) -> Path | None:
        return self._path(key)
