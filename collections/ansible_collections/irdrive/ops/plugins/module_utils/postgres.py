# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""One PostgreSQL connection helper (psycopg2), in the shape of community.postgresql's.

Every session carries ``statement_timeout`` and ``lock_timeout`` so that nothing irdrive runs
can hang or queue behind a lock.  ``PgSession.queries`` records the statements that ran.
Connection failures are sorted into UnreachableError (naming host:port), AuthError and
NotFoundError (missing database); without psycopg2 ``PgSession`` raises MissingLibrary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    IrdriveOpsError,
    MissingLibrary,
    NotFoundError,
    TransientError,
    UnreachableError,
)

try:
    import psycopg2
    import psycopg2.errors
    import psycopg2.extensions
    import psycopg2.extras

    PSYCOPG2_IMPORT_ERROR: str | None = None
except ImportError as _import_error:  # require_psycopg2 raises MissingLibrary
    PSYCOPG2_IMPORT_ERROR = str(_import_error)

_UNREACHABLE_HINTS = (
    "could not connect",
    "connection refused",
    "timeout expired",
    "could not translate host name",
    "no route to host",
    "no such file or directory",
    "server closed the connection",
    "the database system is starting up",
    "the database system is shutting down",
)
_AUTH_HINTS = ("password authentication failed", "no pg_hba.conf entry", "no password supplied")


@dataclass
class PgConnParams:
    """The connection options of the ``irdrive.ops.postgres`` doc fragment."""

    login_host: str | None = None
    login_port: int = 5432
    login_user: str = "postgres"
    login_password: str | None = None
    login_db: str = "postgres"
    login_unix_socket: str | None = None
    ssl_mode: str = "prefer"
    ca_cert: str | None = None
    connect_timeout: int = 5
    statement_timeout: int = 30000
    lock_timeout: int = 5000

    @property
    def target(self) -> str:
        """Where we connect, for messages: host:port or the unix socket directory."""
        if self.login_unix_socket:
            return f"{self.login_unix_socket} (unix socket, port {self.login_port})"
        return f"{self.login_host or 'localhost'}:{self.login_port}"

    def dsn_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``psycopg2.connect`` (the password included, never logged)."""
        kwargs: dict[str, Any] = {
            "host": self.login_unix_socket or self.login_host or None,
            "port": self.login_port,
            "user": self.login_user,
            "password": self.login_password or None,
            "dbname": self.login_db,
            "sslmode": self.ssl_mode,
            "sslrootcert": self.ca_cert,
            "connect_timeout": self.connect_timeout,
            "application_name": "irdrive.ops",
            "options": (
                f"-c statement_timeout={int(self.statement_timeout)} "
                f"-c lock_timeout={int(self.lock_timeout)}"
            ),
        }
        return {key: value for key, value in kwargs.items() if value is not None}


def require_psycopg2(reason: str = "to talk to PostgreSQL") -> None:
    """Raise MissingLibrary (which modules report with ``missing_required_lib``) without psycopg2."""
    if PSYCOPG2_IMPORT_ERROR is not None:
        raise MissingLibrary("psycopg2", reason, PSYCOPG2_IMPORT_ERROR)


def classify_connect_error(error: Exception, params: PgConnParams) -> IrdriveOpsError:
    text = str(error).strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    lowered = text.lower()
    if any(hint in lowered for hint in _AUTH_HINTS):
        return AuthError(
            f"PostgreSQL at {params.target} refused user {params.login_user}: {first_line}",
            target=params.target,
        )
    if "does not exist" in lowered and "database" in lowered:
        return NotFoundError(f"PostgreSQL at {params.target}: {first_line}", target=params.target)
    if any(hint in lowered for hint in _UNREACHABLE_HINTS):
        return UnreachableError(
            f"cannot reach PostgreSQL at {params.target}: {first_line}",
            target=params.target,
        )
    return IrdriveOpsError(f"PostgreSQL at {params.target}: {first_line}", target=params.target)


class PgSession:
    """A connection plus the record of the statements that ran on it."""

    def __init__(self, params: PgConnParams, readonly: bool = False) -> None:
        require_psycopg2()
        self.params = params
        self.queries: list[str] = []
        try:
            self.connection = psycopg2.connect(**params.dsn_kwargs())
        except psycopg2.Error as error:
            raise classify_connect_error(error, params) from error
        self.connection.set_session(readonly=readonly, autocommit=True)

    def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        """Run one statement, record it, and return its rows as dicts."""
        with self.connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            try:
                cursor.execute(sql, args)
            except (
                psycopg2.extensions.QueryCanceledError,
                psycopg2.errors.LockNotAvailable,
            ) as error:
                raise TransientError(
                    f"statement cancelled on {self.params.target}: {str(error).strip()}"
                ) from error
            except psycopg2.OperationalError as error:
                raise classify_connect_error(error, self.params) from error
            except psycopg2.Error as error:
                raise IrdriveOpsError(
                    f"statement failed on {self.params.target}: {str(error).strip()}"
                ) from error
            finally:
                if cursor.query is not None:
                    self.queries.append(cursor.query.decode("utf-8", errors="replace"))
            if cursor.description is None:
                return []
            return [dict(row) for row in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> PgSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
