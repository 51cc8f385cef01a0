# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A PostgreSQL role password as the service behind a rotated secret.

The secret is a JSON object with ``username`` and ``password`` (the shape of Secrets Manager's
database secrets). Passwords are set with ``ALTER ROLE ... PASSWORD`` and a SCRAM-SHA-256
verifier computed here: the cleartext never reaches the server or its statement log.

Two strategies, as AWS's own rotation functions have them:

* ``PostgresPasswordBackend``, single user: setSecret logs in as the role with the first
  password that works (the pending one when an earlier run already set it, then AWSCURRENT,
  AWSPREVIOUS, and a password given by the caller) and changes the role's own password (no
  CREATEROLE needed). Clients holding the old password fail to log in until they get the new
  one, so use it where the consumers reconnect with the new secret at once.
* ``AlternatingUsersBackend``, alternating users: the application has two login roles, members
  of one group role that holds its privileges. Each rotation sets a new password on the role
  AWSCURRENT does *not* name, through a login allowed to do so (CREATEROLE), and switches the
  secret to it. The live login is never touched, so a working credential exists at every
  moment: consumers move over when they restart, and the next rotation changes the other role.

testSecret logs in with the pending value. When it fails, ``undo`` puts back what set replaced
where it can, and says what it did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    InvalidInputError,
    InvalidStateError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import (
    PgConnParams,
    PgSession,
    require_psycopg2,
)
from ansible_collections.irdrive.ops.plugins.module_utils.scram import scram_sha256_verifier
from ansible_collections.irdrive.ops.plugins.module_utils.secret_rotation import alternate_user

MASK = "********"
VERIFIER_PREFIX = "SCRAM-SHA-256$"


def credentials(value: str | None, what: str) -> tuple[str, str] | None:
    """``(username, password)`` of a database secret value, None for no value."""
    if value is None:
        return None
    try:
        document = json.loads(value)
    except ValueError:
        raise InvalidStateError(f"the {what} value is not a JSON object") from None
    if (
        not isinstance(document, dict)
        or not document.get("username")
        or not document.get("password")
    ):
        raise InvalidStateError(f"the {what} value lacks username or password")
    return str(document["username"]), str(document["password"])


def masked(queries: list[str]) -> list[str]:
    """Statements with any SCRAM verifier replaced by a mask."""
    out = []
    for query in queries:
        start = query.find(VERIFIER_PREFIX)
        if start >= 0:
            end = query.find("'", start)
            query = query[:start] + MASK + (query[end:] if end >= 0 else "")
        out.append(query)
    return out


@dataclass
class PostgresPasswordBackend:
    """setSecret/testSecret on a PostgreSQL role (see the module docstring)."""

    conn: PgConnParams
    fallback_password: str | None = None
    queries: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)  # which credential logged in, by name
    _restore: tuple[str, str, str] | None = None  # (user, password that worked, pending)

    def __post_init__(self) -> None:
        require_psycopg2("to rotate a PostgreSQL password")  # before any write

    def _session(self, user: str, password: str) -> PgSession:
        params = replace(self.conn, login_user=user, login_password=password)
        return PgSession(params)

    def _works(self, user: str, password: str) -> bool:
        try:
            with self._session(user, password) as session:
                session.query("SELECT 1")
                self.queries.extend(session.queries)
        except AuthError:
            return False
        return True

    def _candidates(
        self, user: str, current: str | None, previous: str | None
    ) -> list[tuple[str, str]]:
        found = []
        for name, value in (("AWSCURRENT", current), ("AWSPREVIOUS", previous)):
            creds = credentials(value, name)
            if creds and creds[0] == user:
                found.append((name, creds[1]))
        if self.fallback_password:
            found.append(("current_password", self.fallback_password))
        return found

    def _working_password(
        self, user: str, current: str | None, previous: str | None
    ) -> tuple[str, str]:
        for name, password in self._candidates(user, current, previous):
            if self._works(user, password):
                self.logins.append(name)
                return name, password
        raise AuthError(
            f"PostgreSQL at {self.conn.target} refused role {user} with the AWSCURRENT, "
            "AWSPREVIOUS and given current passwords; nothing was changed in the database",
            target=self.conn.target,
        )

    def check(self, pending: str | None, current: str | None, previous: str | None) -> None:
        found = credentials(pending, "AWSPENDING") or credentials(current, "AWSCURRENT")
        if not found:
            raise InvalidStateError("the secret has no value naming the database role")
        user, password = found
        if pending is not None and self._works(user, password):
            self.logins.append("AWSPENDING")
            return
        self._working_password(user, current, previous)

    def set(self, pending: str, current: str | None, previous: str | None) -> bool:
        user, new_password = credentials(pending, "AWSPENDING") or ("", "")
        if self._works(user, new_password):
            self.logins.append("AWSPENDING")
            return False  # an earlier run set it already
        _, old_password = self._working_password(user, current, previous)
        self._alter(user, old_password, new_password)
        self._restore = (user, old_password, new_password)
        return True

    def test(self, pending: str) -> None:
        user, password = credentials(pending, "AWSPENDING") or ("", "")
        with self._session(user, password) as session:
            session.query("SELECT current_user, now()")
            self.queries.extend(session.queries)

    def undo(self) -> str | None:
        if self._restore is None:
            return None
        user, old_password, new_password = self._restore
        for login in (new_password, old_password):
            try:
                self._alter(user, login, old_password)
            except AuthError:
                continue
            return f"role {user} was set back to the password that worked before"
        return None

    def _alter(self, user: str, login_password: str, new_password: str) -> None:
        verifier = scram_sha256_verifier(new_password)
        with self._session(user, login_password) as session:
            try:
                ident = '"' + user.replace('"', '""') + '"'
                session.query(f"ALTER ROLE {ident} PASSWORD %s", (verifier,))
            finally:
                self.queries.extend(session.queries)

    def report(self) -> dict[str, Any]:
        return {
            "target": self.conn.target,
            "strategy": "single-user",
            "logins": self.logins,
            "queries": masked(self.queries),
        }


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class AlternatingUsersBackend:
    """setSecret/testSecret with two alternating login roles (see the module docstring)."""

    conn: PgConnParams  # login_user/login_password: the role that may set passwords
    users: tuple[str, str]
    group_role: str | None = None
    queries: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    _live: tuple[str, str] | None = None  # AWSCURRENT's login, if it worked before set
    _restore: tuple[str, str] | None = None  # (idle role, its previous password)

    def __post_init__(self) -> None:
        require_psycopg2("to rotate a PostgreSQL password")  # before any write
        if len(self.users) != 2 or self.users[0] == self.users[1]:
            raise InvalidInputError("alternate_users must name two different roles")
        if self.conn.login_user in self.users:
            raise InvalidInputError(
                f"the login that sets passwords ({self.conn.login_user}) must not be one of "
                "the alternating roles"
            )

    def _run(self, user: str, password: str | None, sql: str, args: Any = None) -> list[Any]:
        params = replace(self.conn, login_user=user, login_password=password)
        with PgSession(params) as session:
            try:
                return session.query(sql, args)
            finally:
                self.queries.extend(session.queries)

    def _works(self, user: str, password: str) -> bool:
        try:
            self._run(user, password, "SELECT 1")
        except AuthError:
            return False
        return True

    def _admin(self, sql: str, args: Any = None) -> list[Any]:
        return self._run(self.conn.login_user, self.conn.login_password, sql, args)

    def _targets(self, pending: str | None, current: str | None) -> tuple[str, str | None]:
        """(the idle role this rotation sets, the live role AWSCURRENT names)."""
        live = credentials(current, "AWSCURRENT")
        staged = credentials(pending, "AWSPENDING")
        live_user = live[0] if live else None
        idle = staged[0] if staged else alternate_user(self.users, live_user)
        if idle not in self.users:
            raise InvalidStateError(
                f"AWSPENDING names role {idle}, not one of the alternating roles "
                f"{', '.join(self.users)}"
            )
        if idle == live_user:
            raise InvalidStateError(
                f"AWSPENDING names role {idle}, the login AWSCURRENT uses; alternating rotation "
                "never changes the live login's password (remove the stale AWSPENDING version "
                "or rotate with a new rotation id)"
            )
        return idle, live_user

    def _inspect(self, idle: str) -> None:
        """Through the admin login: the idle role exists, can log in, is in the group."""
        rows = self._admin(
            "SELECT r.rolcanlogin AS can_login, r.rolsuper AS superuser, "
            "(SELECT count(*) FROM pg_stat_activity a WHERE a.usename = r.rolname) AS sessions, "
            "CASE WHEN %s::text IS NULL THEN NULL "
            "ELSE pg_has_role(r.rolname, %s::text, 'MEMBER') END AS in_group "
            "FROM pg_roles r WHERE r.rolname = %s",
            (self.group_role, self.group_role, idle),
        )
        if not rows:
            raise InvalidStateError(
                f"role {idle} does not exist on {self.conn.target}; create both alternating "
                f"roles ({', '.join(self.users)})"
                + (f" as members of {self.group_role}" if self.group_role else "")
            )
        row = rows[0]
        self.checks.update(
            idle_role=idle,
            idle_role_sessions=int(row["sessions"]),
            idle_role_in_group=row["in_group"],
        )
        if not row["can_login"] or row["superuser"]:
            raise InvalidStateError(
                f"role {idle} must be a LOGIN role and not a superuser to be rotated"
            )
        if self.group_role and not row["in_group"]:
            raise InvalidStateError(
                f"role {idle} is not a member of {self.group_role}; it would log in without "
                "the application's privileges"
            )

    def _note_live(self, live_user: str | None, current: str | None) -> None:
        live = credentials(current, "AWSCURRENT")
        if live_user and live and self._works(*live):
            self.logins.append("AWSCURRENT")
            self._live = live
        self.checks["live_role"] = live_user
        self.checks["live_login_works"] = self._live is not None

    def check(self, pending: str | None, current: str | None, previous: str | None) -> None:
        idle, live_user = self._targets(pending, current)
        self._inspect(idle)
        self.logins.append("admin")
        self._note_live(live_user, current)

    def set(self, pending: str, current: str | None, previous: str | None) -> bool:
        idle, live_user = self._targets(pending, current)
        _, new_password = credentials(pending, "AWSPENDING") or ("", "")
        self._note_live(live_user, current)
        if self._works(idle, new_password):
            self.logins.append("AWSPENDING")
            self._inspect(idle)
            return False  # an earlier run set it already
        self._inspect(idle)
        self.logins.append("admin")
        old = credentials(previous, "AWSPREVIOUS")
        if old and old[0] == idle:
            self._restore = (idle, old[1])
        self._admin(
            f"ALTER ROLE {quote_ident(idle)} PASSWORD %s", (scram_sha256_verifier(new_password),)
        )
        return True

    def test(self, pending: str) -> None:
        user, password = credentials(pending, "AWSPENDING") or ("", "")
        rows = self._run(
            user,
            password,
            "SELECT current_user AS login, CASE WHEN %s::text IS NULL THEN true "
            "ELSE pg_has_role(current_user, %s::text, 'USAGE') END AS privileged",
            (self.group_role, self.group_role),
        )
        self.logins.append("AWSPENDING")
        if not rows or not rows[0]["privileged"]:
            raise InvalidStateError(
                f"role {user} logs in without the privileges of {self.group_role}"
            )
        if self._live is not None and not self._works(*self._live):
            raise InvalidStateError(
                f"the live login {self._live[0]} stopped working during the rotation"
            )

    def undo(self) -> str | None:
        if self._restore is None:
            return None
        idle, old_password = self._restore
        self._admin(
            f"ALTER ROLE {quote_ident(idle)} PASSWORD %s", (scram_sha256_verifier(old_password),)
        )
        return f"idle role {idle} got its AWSPREVIOUS password back"

    def report(self) -> dict[str, Any]:
        return {
            "target": self.conn.target,
            "strategy": "alternating-users",
            "logins": self.logins,
            "checks": self.checks,
            "queries": masked(self.queries),
        }
