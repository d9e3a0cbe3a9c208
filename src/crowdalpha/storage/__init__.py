"""Where files live: datasets, submissions, meta models — behind one small interface.

:class:`LocalFileStore` (a folder) is the embedded default; :class:`~crowdalpha.storage.s3.
S3FileStore` keeps the files in an S3-compatible bucket (``CROWDALPHA_STORAGE_URL=s3://…``,
see :func:`open_store`). Keys are ``/``-separated relative paths; writes are atomic (a
temporary file renamed into place, or one S3 PUT), so a reader never sees half a file and a
crash leaves nothing half-written.

A store that can hand out presigned URLs (:meth:`FileStore.presigned_get`,
:meth:`FileStore.presigned_put`) lets participants download and upload straight from and to
it, so the file bytes never pass through the server; the others return None and the server
serves the bytes itself.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from crowdalpha.errors import (
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
    StorageWriteError,
)

__all__ = ["FileStore", "LocalFileStore", "check_key", "open_store"]


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

    def sha256(self, key: str) -> str:
        """The hex SHA-256 of the file under ``key``; ``NotFoundError`` if absent."""
        return hashlib.sha256(self.get(key)).hexdigest()

    # -- direct transfers (capabilities: None where the store has none) -----------------

    def presigned_get(self, key: str, expires_in: timedelta) -> str | None:
        """A URL that serves ``key`` (``Range`` included) straight from the storage service
        for ``expires_in``, or None: the server then serves the file itself."""
        return None

    def presigned_put(self, key: str, expires_in: timedelta) -> str | None:
        """A URL that accepts a PUT of the file ``key`` straight into the storage service
        for ``expires_in``, or None: the server then receives the upload itself. Nothing
        limits the size of such an upload: the server checks it before using the file."""
        return None


def open_store(url: str | Path) -> FileStore:
    """The store a URL names: ``s3://bucket/prefix`` (an S3-compatible bucket, endpoint and
    credentials from the usual ``AWS_*`` variables), ``file:///folder`` or a plain folder."""
    text = str(url)
    if text.startswith("s3://"):
        from crowdalpha.storage.s3 import S3FileStore

        return S3FileStore(text)
    if text.startswith("file://"):
        return LocalFileStore(text.removeprefix("file://"))
    if "://" in text:
        raise InvalidParameterError(
            f"{text!r} is not a storage URL this version reads: use s3://bucket/prefix or a "
            "folder (file:///path)",
            details={"url": text},
        )
    return LocalFileStore(text)


def check_key(key: str) -> PurePosixPath:
    """``key`` as a path, refused with ``InvalidInputError`` unless it is a relative,
    ``/``-separated path without empty, ``.`` or ``..`` parts."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        raise InvalidInputError(f"{key!r} is not a valid storage key (relative, no '..')")
    return path


#: errno → the ``reason`` of a :class:`StorageWriteError`, and what the operator should do.
_WRITE_FAILURES = {
    errno.ENOSPC: ("no_space", "the disk is full: free space or grow the volume"),
    errno.EDQUOT: ("no_space", "the disk quota is exhausted: free space or raise the quota"),
    errno.EROFS: ("read_only", "the file system is read-only: remount it read-write"),
    errno.EACCES: ("permission_denied", "the server may not write there: fix the permissions"),
    errno.EPERM: ("permission_denied", "the server may not write there: fix the permissions"),
    errno.EFBIG: ("file_too_large", "the file exceeds the size limit of the file system"),
}


def _write_error(key: str, exc: OSError) -> StorageWriteError:
    """The typed error of a write the operating system refused (nothing was kept)."""
    reason, action = _WRITE_FAILURES.get(exc.errno or 0, ("os_error", "see the server's log"))
    return StorageWriteError(
        f"the file store could not write {key!r}: {exc.strerror or exc}; nothing was kept — "
        f"{action}, then retry",
        details={
            "service": "file_store",
            "reason": reason,
            "errno": errno.errorcode.get(exc.errno or 0, str(exc.errno)),
            "retryable": True,
        },
    )


class LocalFileStore(FileStore):
    """Files under a root folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise _write_error(key, exc) from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _write_error(key, exc) from exc
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
        top = self.root.joinpath(*check_key(folder).parts) if folder else self.root
        found = sorted(
            p.relative_to(self.root).as_posix()
            for p in top.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        yield from (k for k in found if k.startswith(prefix))

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def sha256(self, key: str) -> str:
        try:
            with self._path(key).open("rb") as fh:
                return hashlib.file_digest(fh, "sha256").hexdigest()
        except FileNotFoundError:
            raise NotFoundError(f"no stored file {key!r}", details={"key": key}) from None
