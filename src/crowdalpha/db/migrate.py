"""Alembic migrations shipped inside the package, run programmatically.

``upgrade(engine)`` brings a database to the newest schema; the operator's CLI and the
server call it at start-up. No ``alembic.ini`` is needed: :func:`alembic_config` gives
Alembic's own commands (``revision --autogenerate``, ``downgrade``…) the packaged scripts.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from crowdalpha.errors import ConflictError

__all__ = [
    "alembic_config",
    "current_revision",
    "head_revision",
    "require_current",
    "upgrade",
]

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations (optionally bound)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` in one transaction."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with this version of crowdalpha."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a migration
        raise RuntimeError("no migrations are shipped")
    return head


def require_current(engine: Engine) -> None:
    """Refuse to work on a database that is not at the newest schema."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "is empty" if current is None else f"is at revision {current}, not {head}"
        raise ConflictError(
            f"the database {engine.url!r} {state}; run `crowdalpha db upgrade` first",
            details={"current": current, "head": head},
        )
