"""Secret values out of everything a run keeps or prints.

The values of a runbook's no_log parameters are replaced by ``********`` in every event
before ansible-runner writes it to ``job_events``, in the report, and in parameter errors.
So are the values of secret environment variables (``is_secret_env``: a named list and a
pattern on the name), which ansible-playbook inherits and ansible-runner writes into its
``env`` and ``command`` artifacts: ``scrub_env`` keeps their names and hides their values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "********"

# Environment variables that hold a secret: by name (the credentials the README tells
# production users to export), or by how the name ends. Paths to secrets are not secrets.
SECRET_ENV_NAMES = frozenset(
    {
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "PGPASSWORD",
        "K8S_AUTH_API_KEY",
        "K8S_AUTH_PASSWORD",
    }
)
SECRET_ENV_SUFFIXES = ("_PASSWORD", "_SECRET", "_TOKEN", "_API_KEY", "_SECRET_ACCESS_KEY")


class Redactor:
    """Replaces every occurrence of the given secret values in nested data."""

    def __init__(self, secrets: Iterable[Any]) -> None:
        values = {secret_text(s) for s in secrets}
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted((v for v in values if v), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def scrub(self, data: Any) -> Any:
        """``data`` with secrets replaced; dicts and lists are changed in place."""
        if not self.secrets:
            return data
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            for key in list(data):
                data[key] = self.scrub(data[key])
        elif isinstance(data, list):
            for i, item in enumerate(data):
                data[i] = self.scrub(item)
        return data


def secret_text(value: Any) -> str:
    """The text a secret value shows as: itself, its JSON, or ``str()``; "" for booleans."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return ""  # too short and common to redact meaningfully
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def secret_values(value: Any) -> list[Any]:
    """``value`` and, for a mapping or list, every scalar inside it (each is secret too)."""
    found: list[Any] = [value]
    if isinstance(value, dict):
        for item in value.values():
            found.extend(secret_values(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(secret_values(item))
    return found


def is_secret_env(name: str) -> bool:
    """Whether the environment variable ``name`` holds a secret (any case)."""
    upper = name.upper()
    return upper in SECRET_ENV_NAMES or upper.endswith(SECRET_ENV_SUFFIXES)


def env_secrets(env: Mapping[str, Any]) -> list[str]:
    """The values of ``env``'s secret variables (empty ones left out)."""
    return [str(value) for name, value in env.items() if is_secret_env(name) and value]


def env_redactor(extra: Iterable[Any] = (), env: Mapping[str, Any] | None = None) -> Redactor:
    """A Redactor for the values of the secret variables of ``env`` (default: this process's
    environment) and the ``extra`` values (a run's no_log values, a channel URL's tokens)."""
    return Redactor([*env_secrets(os.environ if env is None else env), *extra])


def mask_text(text: str, extra: Iterable[Any] = (), env: Mapping[str, Any] | None = None) -> str:
    """``text`` fit to record or send: the environment's secret values and ``extra`` masked
    (``env_redactor``), and the password of any ``user:password@`` in a URL hidden. The one
    masking every incident output uses (the status page adds its IP withholding on top)."""
    from irdrive.history.location import redact as redact_url_passwords

    return redact_url_passwords(env_redactor(extra, env).text(text))


def scrub_env(env: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``env`` with every secret variable's value replaced by the marker."""
    return {
        name: (REDACTED if is_secret_env(name) and value else value) for name, value in env.items()
    }
