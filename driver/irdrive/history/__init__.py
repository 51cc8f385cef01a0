"""The history store: drill results now, incident records later, in one database.

SQLAlchemy Core tables (``schema``) and Alembic migrations shipped in the package
(``migrations/``, run in code: no alembic.ini). Where the store is: ``$IRDRIVE_DB_URL``, else
``[history] db_url`` in the config file (``irdrive.config``), else the SQLite file
``history.db`` in the state folder. A team shares one PostgreSQL by pointing every user at it::

    export IRDRIVE_DB_URL=postgresql://irdrive:PASSWORD@db.example.com:5432/irdrive

Opening the store migrates it to the newest schema (one query when it is already there).
Importing this package imports neither SQLAlchemy nor Alembic: ``open_store`` does, and
``last_passing_all`` avoids both for the default SQLite store.

A new migration: ``alembic.command.revision(cfg, message)`` with ``cfg`` built as in
``store.migrate``, then ``revision.HEAD_REVISION`` set to its id (a test checks they agree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irdrive.history import location
from irdrive.history.model import OUTCOMES, DrillRecord

if TYPE_CHECKING:
    from irdrive.history.store import Store

__all__ = ["OUTCOMES", "DrillRecord", "Store", "last_passing_all", "open_store"]


def store_url(url: str | None = None) -> str:
    """``url``, else the configured URL, else the default SQLite file's."""
    return url or location.configured_url() or location.sqlite_url(location.default_path())


def open_store(url: str | None = None, *, connect_timeout: int | None = None) -> Store:
    """Open (and migrate to the newest schema) the store at ``url`` or the configured one.
    ``connect_timeout``: seconds to wait for a PostgreSQL server (default 5)."""
    from irdrive.history.store import PG_CONNECT_TIMEOUT, open_engine_store

    return open_engine_store(store_url(url), connect_timeout or PG_CONNECT_TIMEOUT)


def last_passing_all(url: str | None = None, connect_timeout: int = 2) -> dict[str, DrillRecord]:
    """The newest passing drill of each runbook in the store, cheaply, for ``irdrive list``
    and ``irdrive run``: an SQLite store that does not exist yet is not created, and one at the
    newest schema (SQLite or PostgreSQL) is read without SQLAlchemy. A PostgreSQL server gets
    ``connect_timeout`` seconds (libpq's minimum is 2): a responder does not wait for it."""
    url = store_url(url)
    path = location.sqlite_path(url)
    if path is not None and not path.exists():
        return {}
    from irdrive.history import lite

    if path is not None:
        found = lite.last_passing_all(path)
    else:
        found = lite.last_passing_pg(url, connect_timeout)
    if found is not None:
        return found
    with open_store(url, connect_timeout=connect_timeout) as store:
        return store.last_passing_all()


def __getattr__(name: str) -> Any:
    if name == "Store":  # the class, for type hints and isinstance, without importing it early
        from irdrive.history.store import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
