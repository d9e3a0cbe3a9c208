"""Persistence foundation: the declarative base, column types, engines and migrations.

SQLite (a file under the data folder) is the embedded default; PostgreSQL runs the same
code in production. Every table is created by Alembic migrations shipped inside the
package (:func:`upgrade`), never by ``create_all`` outside tests of the migrations
themselves.
"""

from crowdalpha.db.base import Base
from crowdalpha.db.engine import (
    create_database_engine,
    is_postgresql,
    is_sqlite,
    read_engine,
    session_factory,
    transact,
    unit_of_work,
)
from crowdalpha.db.migrate import (
    current_revision,
    downgrade,
    head_revision,
    require_current,
    upgrade,
)
from crowdalpha.db.types import Amount, UtcDateTime

__all__ = [
    "Amount",
    "Base",
    "UtcDateTime",
    "create_database_engine",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_postgresql",
    "is_sqlite",
    "read_engine",
    "require_current",
    "session_factory",
    "transact",
    "unit_of_work",
    "upgrade",
]
