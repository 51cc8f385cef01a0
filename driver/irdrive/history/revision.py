"""The schema revision this code needs, importable without SQLAlchemy or Alembic.

Opening the store compares the database's revision with ``HEAD_REVISION`` and starts Alembic
only when they differ, so an up-to-date store opens without importing Alembic (about 0.2 s of
imports). A test checks that it names the head of ``migrations/versions``.
"""

from __future__ import annotations

HEAD_REVISION = "0002"
VERSION_TABLE = "irdrive_schema_version"
# pg_advisory_xact_lock key of the schema's migration: "irdrive" + schema, an arbitrary
# constant of this application (migrations/env.py and store.upgrade take it).
PG_MIGRATION_LOCK = 0x1D5C_4E3A
