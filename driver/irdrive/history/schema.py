"""The store's tables as SQLAlchemy Core (no ORM): what the code reads and writes.

The migrations in ``migrations/versions`` create them; a test compares the migrated database
with this metadata, so the two cannot drift apart. Alembic keeps the schema's revision in its
own table, named ``irdrive_schema_version`` so that a PostgreSQL database shared with other
tools does not clash with their ``alembic_version``. Incident records (revision 0002) are
tables of their own in the same metadata: ``incidents``, their hash-chained
``incident_timeline``, ``incident_actions`` and ``incident_alert_keys`` (which alert keeps
attaching to which open incident).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from irdrive.history.revision import HEAD_REVISION, VERSION_TABLE

__all__ = [
    "HEAD_REVISION",
    "VERSION_TABLE",
    "drills",
    "incident_actions",
    "incident_alert_keys",
    "incident_timeline",
    "incidents",
    "metadata",
]


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


incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # INC-YYYYMMDD-HHMMSS[-N]
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("commander", sa.String(200), nullable=True),
    sa.Column("scribe", sa.String(200), nullable=True),
    sa.Column("comms_lead", sa.String(200), nullable=True),
    sa.Column("services", sa.JSON, nullable=False),
    sa.Column("runbook", sa.String(200), nullable=True),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("impact", sa.Text, nullable=False, server_default=""),
    sa.Column("users_affected", sa.Text, nullable=False, server_default=""),
    sa.Column("root_cause", sa.Text, nullable=False, server_default=""),
    sa.Column("public_summary", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.String(20), nullable=False, server_default="cli"),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("detected_at", UTCDateTime, nullable=True),
    sa.Column("acknowledged_at", UTCDateTime, nullable=True),
    sa.Column("identified_at", UTCDateTime, nullable=True),
    sa.Column("mitigated_at", UTCDateTime, nullable=True),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("last_update_at", UTCDateTime, nullable=True),
    sa.Column("escalation_level", sa.Integer, nullable=False, server_default="1"),
    sa.Column("details", sa.JSON, nullable=False),
    # The timeline's head: how many entries it has and the hash of the last one, so that
    # ``verify`` also sees entries removed from its end.
    sa.Column("timeline_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("timeline_head", sa.String(64), nullable=False, server_default="0" * 64),
    sa.Index("ix_incidents_status", "status"),
    sa.Index("ix_incidents_detected_at", "detected_at"),
)

incident_timeline = sa.Table(
    "incident_timeline",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "incident_id", sa.String(40), sa.ForeignKey("incidents.id"), nullable=False, index=True
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False, server_default=""),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("incident_id", "seq", name="uq_incident_timeline_seq"),
)

incident_actions = sa.Table(
    "incident_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "incident_id", sa.String(40), sa.ForeignKey("incidents.id"), nullable=False, index=True
    ),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("priority", sa.String(8), nullable=False),
    sa.Column("due", sa.String(10), nullable=True),  # YYYY-MM-DD
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("done_at", UTCDateTime, nullable=True),
)

incident_alert_keys = sa.Table(
    "incident_alert_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_key", sa.String(400), nullable=False, index=True),
    sa.Column("incident_id", sa.String(40), sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("alert_key", "incident_id", name="uq_incident_alert_keys"),
)
