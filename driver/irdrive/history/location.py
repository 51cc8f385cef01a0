"""Where the history store is: ``$IRDRIVE_DB_URL``, else the config file's ``[history] db_url``,
else an SQLite file ``history.db`` in the state folder. Importable without SQLAlchemy."""

from __future__ import annotations

import os
import re
from pathlib import Path

from irdrive import config
from irdrive.errors import UsageError
from irdrive.paths import state_dir

ENV_DB_URL = "IRDRIVE_DB_URL"
DB_FILE = "history.db"
# //user:password@ in a URL (or in an error message quoting one); the password up to the last
# @ of the URL, in case it has an unescaped one.
_PASSWORD = re.compile(r"//(?P<user>[^:/@\s]*):(?P<password>\S*)@")


def configured_url() -> str | None:
    """The store URL a user or team set, or None for the default SQLite file."""
    env = os.environ.get(ENV_DB_URL, "").strip()
    if env:
        return env
    value = config.setting("history", "db_url")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UsageError(f"[history] db_url in {config.config_file()} must be a string")
    return value.strip()


def default_path() -> Path:
    return state_dir() / DB_FILE


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL, None for any other URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url or len(url) == len(prefix):
        return None
    return Path(url[len(prefix) :]).expanduser()


def redact(text: str) -> str:
    """``text`` with the password of any ``user:password@`` in it replaced by ``***``."""
    return _PASSWORD.sub(lambda m: f"//{m['user']}:***@", text)
