"""Alembic environment: runs on the connection handed over by crowdalpha.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from crowdalpha.db.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through crowdalpha.db.migrate.upgrade(engine)")
_run(connection)
