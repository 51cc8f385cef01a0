"""The store's tables as SQLAlchemy Core (no ORM): what the code reads and writes.

The migrations in ``migrations/versions`` create them; a test compares the migrated database
with this metadata, so the two cannot drift apart. Alembic keeps the schema's revision in its
own table, named ``irdrive_schema_version`` so that a PostgreSQL database shared with other
tools does not clash with their ``alembic_version``. Incident records join later as tables of
their own in the same metadata, each with its own migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from irdrive.history.revision import HEAD_REVISION, VERSION_TABLE

__all__ = ["HEAD_REVISION", "VERSION_TABLE", "drills", "metadata"]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A tz-aware UTC datetime on every backend (SQLite keeps no zone: stored as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: the store keeps tz-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


metadata = sa.MetaData()

drills = sa.Table(
    "drills",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("runbook", sa.String(200), nullable=False),
    sa.Column("scenario", sa.String(200), nullable=False),
    sa.Column("variant", sa.String(100), nullable=False, server_default=""),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("failed_check", sa.Text, nullable=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("detect_s", sa.Float, nullable=True),
    sa.Column("recover_s", sa.Float, nullable=True),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("respond_target_s", sa.Integer, nullable=False),
    sa.Column("resolve_target_s", sa.Integer, nullable=False),
    sa.Column("breached", sa.Boolean, nullable=False),
    sa.Column("git_commit", sa.String(80), nullable=True),
    sa.Column("files_digest", sa.String(100), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_drills_runbook_started_at", "runbook", "started_at"),
)
