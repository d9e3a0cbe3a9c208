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

from crowdalpha.compute import ComputeBackend, open_backend
from crowdalpha.db import create_database_engine, require_current, upgrade
from crowdalpha.errors import ConflictError
from crowdalpha.storage import FileStore, LocalFileStore, open_store

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
    fund_dir: Path | None = Field(
        default=None,
        description="Where the fund's backtest of this tournament is written (crowdalpha fund "
        "backtest --tournament; the demo) and the operator's fund page reads it; default "
        "{home}/fund.",
    )
    storage_url: str | None = Field(
        default=None,
        description="Keep the files in an S3-compatible bucket instead, e.g. "
        "s3://bucket/prefix (endpoint and credentials: AWS_ENDPOINT_URL, AWS_REGION, "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); participants then download and upload "
        "straight from and to the bucket through presigned URLs.",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Address of a Dask scheduler (tcp://host:8786) to run heavy work on "
        "(dataset builds' era cells; rounds then resolve in column blocks on it); default: "
        "in-process.",
    )

    # -- the tournament -------------------------------------------------------------------
    data_source: Literal["simulated", "prices", "synthetic"] = Field(
        default="simulated",
        description="Where rounds' data come from: simulated (the data pipeline on a "
        "simulated market: train, validation, live, features, example predictions), prices "
        "(the pipeline on the operator's price file, prices_path) or synthetic (generated "
        "live rows only, for tests).",
    )
    simulated_stocks: int = Field(
        default=300,
        ge=50,
        le=10_000,
        description="Stocks in the simulated market (simulated source; fixed when round 1 opens).",
    )
    simulated_seed: int = Field(
        default=0, ge=0, description="Seed of the simulated market (simulated source)."
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
    signals: bool | None = Field(
        default=None,
        description="Run the Signals competition (tournament 11) beside Classic, on the same "
        "market as the prices or simulated source; default: on with the prices source, off "
        "with the others (true turns it on with the simulated source; the synthetic one has "
        "no market to build Signals data from).",
    )
    payout_mpc_multiplier: str = Field(
        default="0",
        description="Weight of MPC (each model's contribution to the meta model's portfolio) "
        "in the numerai payout, a decimal string; 0: MPC is scored and shown but not paid.",
    )
    duplicate_policy: Literal["report", "one_stake"] = Field(
        default="report",
        description="What a round does about near-identical submissions across accounts "
        "(copies, sybils), found when it closes: report (list them for the operator) or "
        "one_stake (also hold each such cluster to one stake's limits); every competition.",
    )
    duplicate_threshold: str = Field(
        default="0.99",
        description="Rank correlation at or above which two submissions of a round count "
        "as near-identical, a decimal string in (0, 1].",
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
    webhook_interval: float = Field(
        default=10.0,
        ge=0,
        description="Seconds between two passes of the submission-webhook sender inside the "
        "server (0: never send).",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow submission webhooks to loopback, private and link-local "
        "addresses (refused by default: a participant's URL must not reach the server's own "
        "network).",
    )
    webhook_max_attempts: int = Field(
        default=5, ge=1, description="Attempts per webhook call before it is marked failed."
    )
    webhook_backoff: float = Field(
        default=30.0,
        gt=0,
        description="Seconds before the first retry of a failed webhook call; doubled at "
        "each further retry.",
    )
    jobs_workers: int = Field(
        default=2,
        ge=0,
        description="Processes of the local pool that runs the background jobs (validation "
        "diagnostics) of a server; 0: in the server process itself. With dask_scheduler set "
        "the jobs run on the cluster instead.",
    )
    jobs_lease: float = Field(
        default=900.0,
        gt=0,
        description="Seconds a runner holds a job it started; a job still running when its "
        "lease runs out (its worker or server died) is run again. Keep it above the longest "
        "job.",
    )
    jobs_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Runs a background job gets whose worker keeps dying before it is "
        "failed with worker_died.",
    )
    jobs_poll_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between two looks for queued jobs when the runner is idle.",
    )
    jobs_shutdown_grace: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a stopping server waits for the jobs it is running; those "
        "still running then are queued again for the next start.",
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

    # -- operations: monitoring and logs --------------------------------------------------
    metrics: Literal["admin", "public", "off"] = Field(
        default="admin",
        description="Prometheus metrics at GET /metrics: admin (only with an admin API key, "
        "'Authorization: Token PUBLIC$SECRET'), public (no key: for a server whose port only "
        "the scraper reaches) or off (no /metrics route).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How crowdalpha serve logs: text (for a terminal) or json (one JSON object "
        "a line, each request's lines carrying its request id, for a log collector).",
    )

    @property
    def signals_enabled(self) -> bool:
        """Whether Signals runs: as set, else with the operator's own prices."""
        return self.data_source == "prices" if self.signals is None else self.signals

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'crowdalpha.db').resolve()}"

    @property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.home / "files"

    @property
    def resolved_fund_dir(self) -> Path:
        return self.fund_dir or self.home / "fund"

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

    def store(self) -> FileStore:
        """The file store: the bucket of ``storage_url`` when set, else the local folder."""
        if self.storage_url is not None:
            return open_store(self.storage_url)
        return LocalFileStore(self.resolved_storage_dir)

    def compute(self) -> ComputeBackend:
        """Where heavy work runs: the Dask cluster of ``dask_scheduler``, else this process."""
        return open_backend(self.dask_scheduler)

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
                shown = (
                    "(hidden)" if value is not None else f"(kept in {self.home / 'signing.key'})"
                )
            elif name == "database_url":
                shown = make_url(self.resolved_database_url).render_as_string(hide_password=True)
            elif name == "storage_dir":
                shown = str(self.resolved_storage_dir)
            elif name == "fund_dir":
                shown = str(self.resolved_fund_dir)
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
