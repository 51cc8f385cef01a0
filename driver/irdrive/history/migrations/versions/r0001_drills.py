"""The drills table: one row per drill of a runbook.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False, server_default=""),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
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
    )
    op.create_index("ix_drills_runbook_started_at", "drills", ["runbook", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_drills_runbook_started_at", table_name="drills")
    op.drop_table("drills")
