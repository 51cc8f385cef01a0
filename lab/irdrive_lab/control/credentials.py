"""The lab's database credentials: made once per lab folder, shared by every part that needs them.

PostgreSQL gets the roles with these passwords, Secrets Manager's ``platform/db-password`` and
the Kubernetes Secret ``db-credentials`` hold the application's current login, so a rotation in
the lab starts from a consistent platform, as it would in production.

The application logs in with one of two alternating roles (``platform_app_a``/``_b``), both
members of the NOLOGIN owner ``platform_app``: a rotation sets a new password on the role not in
use, so a working credential exists at every moment. ``platform_dba`` is the maintenance login
(ANALYZE needs the owner's rights), ``irdrive`` the responder's, and ``platform_rotator`` the
one login with CREATEROLE, which a rotation uses to set the idle role's password.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from irdrive_lab.control.config import LabConfig

APP_GROUP = "platform_app"
APP_USERS = ("platform_app_a", "platform_app_b")
DBA_ROLE = "platform_dba"
RESPONDER_ROLE = "irdrive"
ROTATOR_ROLE = "platform_rotator"
LOGIN_ROLES = (*APP_USERS, DBA_ROLE, RESPONDER_ROLE, ROTATOR_ROLE)
FILE_NAME = "db-credentials.json"
# The payment processors' API keys: Secrets Manager's platform/<name>-api-key holds them, and the
# lab's processors (labd's /processors/<name>/api/health) accept only them.
PROCESSORS = ("ccbill", "segpay")
API_KEYS_FILE = "processor-api-keys.json"


def lab_credentials(cfg: LabConfig) -> dict[str, str]:
    """role -> password, created (0600) on first use; concurrent first uses agree on one file."""
    path = cfg.dir / FILE_NAME
    try:
        creds: dict[str, str] = json.loads(path.read_text())
        if all(role in creds for role in LOGIN_ROLES):
            return creds
    except FileNotFoundError:
        pass
    cfg.dir.mkdir(parents=True, exist_ok=True)
    fresh = {role: secrets.token_urlsafe(18) for role in LOGIN_ROLES}
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(fresh, fh)
    try:
        os.link(tmp, path)  # first writer wins; a reader never sees a half-written file
    except FileExistsError:
        existing: dict[str, str] = json.loads(path.read_text())
        if not all(role in existing for role in LOGIN_ROLES):  # an older lab's file: upgrade it
            os.replace(tmp, path)
            return fresh
        return existing
    finally:
        tmp.unlink(missing_ok=True)
    return fresh


def processor_api_keys(cfg: LabConfig) -> dict[str, str]:
    """processor -> API key, created (0600) once per lab folder; concurrent first uses agree."""
    path = cfg.dir / API_KEYS_FILE
    try:
        keys: dict[str, str] = json.loads(path.read_text())
        if all(keys.get(name) for name in PROCESSORS):
            return keys
    except FileNotFoundError:
        pass
    cfg.dir.mkdir(parents=True, exist_ok=True)
    fresh = {name: f"{name[:3]}_lab_{secrets.token_hex(12)}" for name in PROCESSORS}
    tmp = path.with_name(f".{API_KEYS_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(fresh, fh)
    try:
        os.link(tmp, path)  # first writer wins
    except FileExistsError:
        existing: dict[str, str] = json.loads(path.read_text())
        if not all(existing.get(name) for name in PROCESSORS):
            os.replace(tmp, path)
            return fresh
        return existing
    finally:
        tmp.unlink(missing_ok=True)
    return fresh


def app_secret(cfg: LabConfig) -> dict[str, Any]:
    """The application's seeded login, as Secrets Manager and the Kubernetes Secret hold it."""
    creds = lab_credentials(cfg)
    user = APP_USERS[0]
    return {"username": user, "password": creds[user]}
