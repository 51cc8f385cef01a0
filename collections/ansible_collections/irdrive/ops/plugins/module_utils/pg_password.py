# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A PostgreSQL role password as the service behind a rotated secret.

The secret is a JSON object with ``username`` and ``password`` (the shape of Secrets Manager's
database secrets). setSecret logs in as the role with the first password that works (the
pending one when an earlier run already set it, then AWSCURRENT, AWSPREVIOUS, and a password
given by the caller) and sets the pending password with ``ALTER ROLE ... PASSWORD`` and a
SCRAM-SHA-256 verifier computed here: the cleartext never reaches the server or its log. A role
may change its own password, so no CREATEROLE is needed. testSecret logs in with the pending
password. When the test fails, ``undo`` sets the password that worked before back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    InvalidStateError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import PgConnParams, PgSession
from ansible_collections.irdrive.ops.plugins.module_utils.scram import scram_sha256_verifier

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

    def undo(self) -> bool:
        if self._restore is None:
            return False
        user, old_password, new_password = self._restore
        for login in (new_password, old_password):
            try:
                self._alter(user, login, old_password)
            except AuthError:
                continue
            return True
        return False

    def _alter(self, user: str, login_password: str, new_password: str) -> None:
        verifier = scram_sha256_verifier(new_password)
        with self._session(user, login_password) as session:
            try:
                ident = '"' + user.replace('"', '""') + '"'
                session.query(f"ALTER ROLE {ident} PASSWORD %s", (verifier,))
            finally:
                self.queries.extend(session.queries)

    def report(self) -> dict[str, Any]:
        return {"target": self.conn.target, "logins": self.logins, "queries": masked(self.queries)}
