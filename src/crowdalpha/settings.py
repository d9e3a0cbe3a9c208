"""Operator settings: where the database and the files are, read from the environment.

Every setting has an embedded default under one home folder (``./crowdalpha-data``): a
SQLite file and a folder of files. Production points ``CROWDALPHA_DATABASE_URL`` at
PostgreSQL (``postgresql+psycopg://user@host/db``) and ``CROWDALPHA_STORAGE_DIR`` at
another folder. Variables may also come from a ``.env`` file in the working directory.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from crowdalpha.db import create_database_engine, require_current, upgrade
from crowdalpha.errors import ConflictError
from crowdalpha.storage import LocalFileStore

__all__ = ["SettingValue", "Settings"]


@dataclass(frozen=True)
class SettingValue:
    """One setting as in effect: for ``crowdalpha config`` and the docs."""

    name: str
    variable: str  # the environment variable
    value: str  # as shown: resolved defaults spelled out, secrets never
    is_set: bool  # False: the default
    description: str


class Settings(BaseSettings):
    """``CROWDALPHA_HOME``, ``CROWDALPHA_DATABASE_URL``, ``CROWDALPHA_STORAGE_DIR``…"""

    model_config = SettingsConfigDict(
        env_prefix="CROWDALPHA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(
        default=Path("crowdalpha-data"),
        description="The tournament's folder: the SQLite file, the files, the signing key.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/db; "
        "default: the SQLite file {home}/crowdalpha.db.",
    )
    storage_dir: Path | None = Field(
        default=None,
        description="Where datasets, submissions and meta models are stored; default {home}/files.",
    )

    # -- the tournament -------------------------------------------------------------------
    data_source: Literal["synthetic", "prices"] = Field(
        default="synthetic",
        description="Where rounds' data come from: synthetic (generated, for trying things "
        "out) or prices (the data pipeline on the operator's price file, prices_path).",
    )
    prices_path: Path | None = Field(
        default=None, description="The price file (Parquet or CSV) of the prices source."
    )
    first_live: date | None = Field(
        default=None,
        description="The market date of round 1's live era (prices source); default: the "
        "price history's last date at the first start.",
    )
    synthetic_rows: int = Field(
        default=2000, ge=10, description="Live rows per round of the synthetic source."
    )
    synthetic_seed: int = Field(default=0, description="Seed of the synthetic source.")
    round_period: Literal["weekly", "daily"] = Field(
        default="weekly", description="weekly (as the article describes) or daily rounds."
    )
    payout_policy: Literal["numerai", "tiered"] = Field(
        default="numerai",
        description="How scores turn into payouts: numerai (stake × clipped weighted CORR "
        "and MMC) or tiered (the article's table); see docs/economics.md.",
    )
    mint_cap: str | None = Field(
        default=None,
        description="Most NMR that may ever be minted (a decimal string of NMR); unset: no cap.",
    )

    # -- the server (``crowdalpha serve``) ------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the server listens on.")
    public_url: str | None = Field(
        default=None,
        description="The address clients reach the server at (signed download and upload "
        "URLs point there); default http://{host}:{port}.",
    )
    tick_interval: float = Field(
        default=60.0,
        ge=0,
        description="Seconds between two runs of the round clock inside the server (0: "
        "never; use cron and crowdalpha tick instead).",
    )
    max_upload_bytes: int = Field(
        default=100 * 1024 * 1024,
        gt=0,
        description="Largest accepted upload (prediction files, request bodies), in bytes.",
    )
    # Validation is CPU work under Python's GIL: threads beyond the cores only add
    # switching (see benchmarks/server.py); more processes (``--workers``) scale.
    upload_concurrency: int = Field(
        default=2,
        ge=1,
        description="Uploads one server process parses and validates at once; more wait "
        "their turn.",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="Requests per minute per API key (and per address for anonymous "
        "requests); 0: no limit.",
    )
    signed_url_ttl: int = Field(
        default=3600,
        gt=0,
        description="How long signed download and upload URLs stay valid, in seconds.",
    )
    dataset_folder: str = Field(
        default="v5.0",
        description="The version folder numerapi clients see datasets under (v5.0/live.parquet).",
    )
    signing_key: SecretStr | None = Field(
        default=None,
        description="Key that signs those URLs; default: a random key kept in {home}/signing.key.",
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'crowdalpha.db').resolve()}"

    @property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.home / "files"

    def engine(self, *, migrate: bool = True) -> Engine:
        """An engine on the configured database: migrated to the newest schema, or (with
        ``migrate=False``) checked to be at it already."""
        url = make_url(self.resolved_database_url)
        database = url.database if url.get_backend_name() == "sqlite" else None
        if not migrate and database and database != ":memory:" and not Path(database).exists():
            raise ConflictError(
                f"there is no database at {database}; run `crowdalpha db upgrade` first"
            )
        engine = create_database_engine(self.resolved_database_url)
        if migrate:
            upgrade(engine)
        else:
            require_current(engine)
        return engine

    def store(self) -> LocalFileStore:
        return LocalFileStore(self.resolved_storage_dir)

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def described(self) -> list[SettingValue]:
        """Every setting with its variable and value; a password in the database URL and
        the signing key are never shown."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name == "signing_key":
                shown = "(set)" if value is not None else f"(kept in {self.home / 'signing.key'})"
            elif name == "database_url":
                shown = make_url(self.resolved_database_url).render_as_string(hide_password=True)
            elif name == "storage_dir":
                shown = str(self.resolved_storage_dir)
            elif name == "public_url":
                shown = self.resolved_public_url
            else:
                shown = "(unset)" if value is None else str(value)
            rows.append(
                SettingValue(
                    name=name,
                    variable=f"CROWDALPHA_{name.upper()}",
                    value=shown,
                    is_set=name in self.model_fields_set,
                    description=field.description or "",
                )
            )
        return rows

    def resolved_signing_key(self) -> bytes:
        """The URL-signing key: configured, or created once under the home folder (0600)."""
        if self.signing_key is not None:
            return self.signing_key.get_secret_value().encode()
        path = self.home / "signing.key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()
