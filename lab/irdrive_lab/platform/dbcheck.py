"""The platform's database check: log in to the lab's PostgreSQL and run ``SELECT 1``.

It logs in with the credentials the running backend pods started with, so a password changed
under them shows as a database failure, as it would for the real backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from irdrive_lab.platform.cluster import NAMESPACE, deployment_pods, pod_is_ready
from irdrive_lab.platform.util import InfoProvider, dig

DB_APPNAME = "irdrive-lab"  # as irdrive_lab.pg.postgres names the lab's own sessions

DbCheck = Callable[[], tuple[bool, str]]
Login = tuple[str, str]  # (user, password)


def postgres_check(
    info_provider: InfoProvider, logins: list[tuple[str, Login]] | None = None
) -> tuple[bool, str]:
    """Log in with each distinct credential (1 s timeout) and run ``SELECT 1``.

    ``logins`` are ``(who, (user, password))``: the credentials the running backend pods
    started with, so a password changed under them shows as a database failure. Without
    any, lab.json's ``postgres`` record is used: ``host``, ``port``, ``database`` (or
    ``dbname``) and ``app_user``/``app_password`` (or ``user``/``password``).
    """
    pg = dig(info_provider(), "postgres") or {}
    if not pg.get("host"):
        return False, "no postgres endpoint in lab.json"
    if not logins:
        user = pg.get("app_user") or pg.get("user")
        logins = [("lab.json", (str(user), str(pg.get("app_password") or pg.get("password"))))]
    for who, (user, password) in logins:
        ok, detail = _postgres_login(pg, user, password)
        if not ok:
            return False, f"{who} (user {user}): {detail}"
    return True, "ok"


def _postgres_login(pg: Mapping[str, Any], user: str, password: str) -> tuple[bool, str]:
    import psycopg2

    try:
        conn = psycopg2.connect(
            host=pg["host"],
            port=int(pg.get("port", 5432)),
            dbname=pg.get("database") or pg.get("dbname") or "platform",
            user=user,
            password=password,
            connect_timeout=1,
            application_name=DB_APPNAME,
            options="-c statement_timeout=1000",
        )
    except psycopg2.Error as exc:
        return False, (str(exc).strip().splitlines() or ["connection failed"])[0]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return True, "ok"
    except psycopg2.Error as exc:
        return False, (str(exc).strip().splitlines() or ["query failed"])[0]
    finally:
        conn.close()


def backend_logins(store: Any) -> list[tuple[str, Login]]:
    """Distinct database logins of the ready backend pods, from what each started with."""
    from irdrive_lab.kube.sim.pods import secret_env

    found: dict[Login, list[str]] = {}
    for pod in deployment_pods(store, "backend") or []:
        if not pod_is_ready(pod):
            continue
        name = str(dig(pod, "metadata", "name"))
        values = secret_env(store, NAMESPACE, name)
        if values.get("DB_username") and values.get("DB_password"):
            found.setdefault((values["DB_username"], values["DB_password"]), []).append(name)
    return [
        (f"backend pod{'s' if len(pods) > 1 else ''} {', '.join(sorted(pods))}", login)
        for login, pods in found.items()
    ]
