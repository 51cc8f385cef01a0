"""Incident records: incidents, their hash-chained timeline, action items, alert keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(40), primary_key=True),
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
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mitigated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_update_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default="1"),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("timeline_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("timeline_head", sa.String(64), nullable=False, server_default=GENESIS),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_detected_at", "incidents", ["detected_at"])
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(40), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False, server_default=""),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("incident_id", "seq", name="uq_incident_timeline_seq"),
    )
    op.create_index("ix_incident_timeline_incident_id", "incident_timeline", ["incident_id"])
    op.create_table(
        "incident_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(40), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("due", sa.String(10), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_incident_actions_incident_id", "incident_actions", ["incident_id"])
    op.create_table(
        "incident_alert_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_key", sa.String(400), nullable=False),
        sa.Column("incident_id", sa.String(40), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("alert_key", "incident_id", name="uq_incident_alert_keys"),
    )
    op.create_index("ix_incident_alert_keys_alert_key", "incident_alert_keys", ["alert_key"])


def downgrade() -> None:
    op.drop_index("ix_incident_alert_keys_alert_key", table_name="incident_alert_keys")
    op.drop_table("incident_alert_keys")
    op.drop_index("ix_incident_actions_incident_id", table_name="incident_actions")
    op.drop_table("incident_actions")
    op.drop_index("ix_incident_timeline_incident_id", table_name="incident_timeline")
    op.drop_table("incident_timeline")
    op.drop_index("ix_incidents_detected_at", table_name="incidents")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_table("incidents")
