"""Operator settings: where the database and the files are, read from the environment.

Every setting has an embedded default under one home folder (``./crowdalpha-data``): a
SQLite file and a folder of files. Production points ``CROWDALPHA_DATABASE_URL`` at
PostgreSQL (``postgresql+psycopg://user@host/db``) and ``CROWDALPHA_STORAGE_DIR`` at
another folder. Variables may also come from a ``.env`` file in the working directory.
"""

from __future__ import annotations

from pathlib import Path

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
