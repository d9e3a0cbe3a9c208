"""Backups of a deployment: a consistent snapshot of the database and the file store, with
a manifest of hashes, and their restore into an empty deployment.

A backup is a folder::

    manifest.json        what is inside, each part's SHA-256 and size
    database.sqlite      SQLite: a copy made with SQLite's online backup API
    database.dump        PostgreSQL: ``pg_dump --format=custom`` (one snapshot)
    files/<key>          every file of the store, byte for byte

The database is snapshotted first, then the files copied: the core writes a file before
the row that names it commits, so every file the snapshot refers to already exists when
the copy runs (files written later are copied too, harmlessly unreferenced). ``restore``
checks every hash of the backup before it writes anything, and refuses a database or a
store that is not empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL

from crowdalpha import __version__
from crowdalpha.db import current_revision
from crowdalpha.errors import (
    BackupError,
    ConflictError,
    InvalidInputError,
    ServiceUnavailableError,
)
from crowdalpha.storage import FileStore

__all__ = ["BackupSummary", "backup", "restore"]

MANIFEST = "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds (or a restore wrote)."""

    folder: Path
    database: str  # "sqlite" or "postgresql"
    revision: str | None
    files: int
    bytes: int


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL for the command-line tools, the password passed in the environment
    (never on a command line, where ``ps`` would show it)."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: Mapping[str, str], what: str) -> None:
    try:
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ServiceUnavailableError(
            f"{command[0]} is not installed: {what} of a PostgreSQL database needs the "
            "PostgreSQL client tools (pg_dump, pg_restore)",
            details={"service": command[0]},
        ) from exc
    if done.returncode != 0:
        raise ServiceUnavailableError(
            f"{command[0]} failed ({what}): {done.stderr.strip()[-500:]}",
            details={"service": command[0]},
        )


def backup(engine: Engine, store: FileStore, dest: Path) -> BackupSummary:
    """Write a backup of ``engine``'s database and ``store`` into the new folder ``dest``."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ConflictError(f"{dest} is not empty; back up into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    kind = engine.dialect.name
    revision = current_revision(engine)
    if kind == "sqlite":
        source = engine.url.database
        if not source or source == ":memory:":
            raise InvalidInputError("an in-memory database has nothing to back up")
        name = "database.sqlite"
        with sqlite3.connect(source) as src, sqlite3.connect(dest / name) as out:
            src.backup(out)  # a consistent copy while others keep writing
        out.close()
        src.close()
    elif kind == "postgresql":
        name = "database.dump"
        url, env = _libpq(engine.url)
        _run(
            ["pg_dump", "--format=custom", "--no-owner", "--file", str(dest / name), url],
            env,
            "backup",
        )
    else:  # pragma: no cover - the two databases crowdalpha runs on
        raise InvalidInputError(f"backups of {kind} databases are not supported")
    files: dict[str, dict[str, Any]] = {}
    total = 0
    for key in sorted(store.keys()):
        data = store.get(key)
        target = dest / "files" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        files[key] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        total += len(data)
    manifest = {
        "format": FORMAT,
        "crowdalpha": __version__,
        "created_at": datetime.now(UTC).isoformat(),
        "database": {
            "kind": kind,
            "file": name,
            "revision": revision,
            "sha256": _sha256(dest / name),
            "size": (dest / name).stat().st_size,
        },
        "files": files,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return BackupSummary(dest, kind, revision, len(files), total)


def _verified(src: Path) -> dict[str, Any]:
    """The manifest, after checking every part of the backup against it."""
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src} has no readable {MANIFEST}: not a crowdalpha backup") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not one this reads")
    parts = [(src / manifest["database"]["file"], manifest["database"]["sha256"], "database")]
    parts += [(src / "files" / key, meta["sha256"], key) for key, meta in manifest["files"].items()]
    for path, expected, label in parts:
        if not path.is_file():
            raise BackupError(
                f"the backup is incomplete: {label} is missing", details={"part": label}
            )
        if _sha256(path) != expected:
            raise BackupError(
                f"the backup is damaged: {label} does not match its SHA-256",
                details={"part": label},
            )
    return manifest


def restore(src: Path, engine: Engine, store: FileStore) -> BackupSummary:
    """Restore the backup in ``src`` into an empty database and an empty store."""
    src = Path(src)
    manifest = _verified(src)
    kind = manifest["database"]["kind"]
    if kind != engine.dialect.name:
        raise InvalidInputError(
            f"this is a backup of a {kind} database; restore it into {kind} "
            f"(the target is {engine.dialect.name})"
        )
    if inspect(engine).get_table_names():
        raise ConflictError("the target database is not empty; restore into a new database")
    if next(iter(store.keys()), None) is not None:
        raise ConflictError("the target file store is not empty; restore into a new one")
    dump = src / manifest["database"]["file"]
    if kind == "sqlite":
        target = engine.url.database
        if not target or target == ":memory:":
            raise InvalidInputError("restore into a SQLite file, not an in-memory database")
        engine.dispose()
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(dump) as backup_db, sqlite3.connect(target) as out:
            backup_db.backup(out)
        out.close()
        backup_db.close()
    else:
        url, env = _libpq(engine.url)
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "-d",
                url,
                str(dump),
            ],
            env,
            "restore",
        )
    total = 0
    for key, meta in manifest["files"].items():
        data = (src / "files" / key).read_bytes()
        store.put(key, data)
        total += len(data)
        if store.sha256(key) != meta["sha256"]:
            raise BackupError(f"{key} was not stored intact", details={"part": key})
    revision = current_revision(engine)
    return BackupSummary(src, kind, revision, len(manifest["files"]), total)
