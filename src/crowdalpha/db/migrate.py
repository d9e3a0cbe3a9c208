"""Alembic migrations shipped inside the package, run programmatically.

``upgrade(engine)`` brings a database to the newest schema; the operator's CLI and the
server call it at start-up. No ``alembic.ini`` is needed: :func:`alembic_config` gives
Alembic's own commands (``revision --autogenerate``, ``downgrade``…) the packaged scripts.
"""

from __future__ import annotations

from collections.abc import Callable
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
    "downgrade",
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
    _migrate(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` in one transaction (for operators rolling back
    a release; refused where data of the newer schema cannot be expressed in the older)."""
    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, step: Callable[[Config], None]) -> None:
    """Run ``step`` in one transaction. On SQLite, foreign keys are off meanwhile: SQLite
    alters a table by copying it, and a copy of a table others refer to would otherwise
    trip their constraints halfway (the procedure SQLite's documentation prescribes); every
    constraint is checked before the transaction commits."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            with connection.begin():
                step(alembic_config(connection))
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise ConflictError(
                            f"the migration would leave {len(broken)} broken reference(s), "
                            f"e.g. in table {broken[0][0]}; nothing was changed",
                            details={"tables": sorted({str(row[0]) for row in broken})},
                        )
        finally:
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    # On the driver's connection itself: outside any transaction (SQLite ignores the pragma
    # inside one), and without SQLAlchemy beginning one for it.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


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
