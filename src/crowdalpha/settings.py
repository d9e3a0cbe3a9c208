"""Operator settings: where the database and the files are, read from the environment.

Every setting has an embedded default under one home folder (``./crowdalpha-data``): a
SQLite file and a folder of files. Production points ``CROWDALPHA_DATABASE_URL`` at
PostgreSQL (``postgresql+psycopg://user@host/db``) and ``CROWDALPHA_STORAGE_DIR`` at
another folder. Variables may also come from a ``.env`` file in the working directory.
"""

from __future__ import annotations

import os
import secrets
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

__all__ = ["Settings"]


class Settings(BaseSettings):
    """``CROWDALPHA_HOME``, ``CROWDALPHA_DATABASE_URL``, ``CROWDALPHA_STORAGE_DIR``…"""

    model_config = SettingsConfigDict(
        env_prefix="CROWDALPHA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Path("crowdalpha-data")
    database_url: str | None = None
    storage_dir: Path | None = None

    # -- the tournament -------------------------------------------------------------------
    #: Where rounds' data come from: ``synthetic`` (generated, for trying things out) or
    #: ``prices`` (the data pipeline on the operator's price file, ``prices_path``).
    data_source: Literal["synthetic", "prices"] = "synthetic"
    prices_path: Path | None = None
    #: The market date of round 1's live era (``prices`` source); default: the price
    #: history's last date at the first start.
    first_live: date | None = None
    synthetic_rows: int = Field(default=2000, ge=10)
    synthetic_seed: int = 0
    #: ``weekly`` (the default, as the article describes) or ``daily`` rounds.
    round_period: Literal["weekly", "daily"] = "weekly"
    payout_policy: Literal["numerai", "tiered"] = "numerai"
    #: Most NMR that may ever be minted (a decimal string of NMR); unset: no cap.
    mint_cap: str | None = None

    # -- the server (``crowdalpha serve``) ------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: The address clients reach the server at (signed download/upload URLs point there);
    #: default ``http://{host}:{port}``.
    public_url: str | None = None
    #: Seconds between two runs of the round clock inside the server (0: never; use cron
    #: and ``crowdalpha tick`` instead).
    tick_interval: float = Field(default=60.0, ge=0)
    #: Largest accepted upload (prediction files, request bodies), in bytes.
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    #: Uploads one server process parses and validates at once; more wait their turn.
    #: Validation is CPU work under Python's GIL: threads beyond the cores only add
    #: switching (see benchmarks/server.py). Run more processes (``--workers``) to scale.
    upload_concurrency: int = Field(default=2, ge=1)
    #: Requests per minute per API key (and per address for anonymous requests); 0: no limit.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    #: How long signed download and upload URLs stay valid, in seconds.
    signed_url_ttl: int = Field(default=3600, gt=0)
    #: The version folder numerapi clients see datasets under (``v5.0/live.parquet``).
    dataset_folder: str = "v5.0"
    #: Key that signs those URLs; default: a random key kept in ``{home}/signing.key``.
    signing_key: SecretStr | None = None

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
