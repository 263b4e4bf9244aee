"""Alembic environment: runs migrations on the connection `vakstem.store.engine` passes in.

There is no alembic.ini and no URL here: the caller owns the engine and the transaction.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from vakstem.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through vakstem.store.open_database, not the alembic CLI")
_run(connection)
