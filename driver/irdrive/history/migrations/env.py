"""Alembic's environment for the history store, run only through ``irdrive.history``.

``irdrive.history.store.migrate`` builds the Alembic ``Config`` in code and hands over an open
connection in ``config.attributes["connection"]``: there is no alembic.ini and no URL here.
On PostgreSQL a transaction-scoped advisory lock makes two clients that open a new shared
database at the same moment migrate it one after the other.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from irdrive.history.revision import PG_MIGRATION_LOCK
from irdrive.history.schema import VERSION_TABLE, metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("the history migrations run through irdrive.history.open_store")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"))
        context.run_migrations()


run_migrations()
