# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Connection options shared by the modules, defined once.

Each spec has a matching doc fragment in ``plugins/doc_fragments/`` (k8s_auth, postgres,
aws_conn, k8s_wait).  Environment fallbacks follow kubernetes.core (``K8S_AUTH_*``), libpq
(``PG*``) and the AWS SDKs (``AWS_*``).
"""

from __future__ import annotations

import copy
from typing import Any

from ansible.module_utils.common.parameters import env_fallback
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError

K8S_AUTH_ARG_SPEC: dict[str, dict[str, Any]] = {
    "kubeconfig": {"type": "path", "fallback": (env_fallback, ["K8S_AUTH_KUBECONFIG"])},
    "context": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_CONTEXT"])},
    "host": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_HOST"])},
    "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_API_KEY"])},
    "ca_cert": {
        "type": "path",
        "aliases": ["ssl_ca_cert"],
        "fallback": (env_fallback, ["K8S_AUTH_SSL_CA_CERT"]),
    },
    "validate_certs": {
        "type": "bool",
        "aliases": ["verify_ssl"],
        "fallback": (env_fallback, ["K8S_AUTH_VERIFY_SSL"]),
    },
    "request_timeout": {"type": "float", "default": 30.0},
}

POSTGRES_ARG_SPEC: dict[str, dict[str, Any]] = {
    "login_host": {"type": "str", "fallback": (env_fallback, ["PGHOST"])},
    "login_port": {"type": "int", "default": 5432, "fallback": (env_fallback, ["PGPORT"])},
    "login_user": {"type": "str", "default": "postgres", "fallback": (env_fallback, ["PGUSER"])},
    "login_password": {
        "type": "str",
        "no_log": True,
        "fallback": (env_fallback, ["PGPASSWORD"]),
    },
    "login_db": {"type": "str", "default": "postgres", "fallback": (env_fallback, ["PGDATABASE"])},
    "login_unix_socket": {"type": "path"},
    "ssl_mode": {
        "type": "str",
        "default": "prefer",
        "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        "fallback": (env_fallback, ["PGSSLMODE"]),
    },
    "ca_cert": {"type": "path", "aliases": ["ssl_rootcert"]},
    "connect_timeout": {
        "type": "int",
        "default": 5,
        "fallback": (env_fallback, ["PGCONNECT_TIMEOUT"]),
    },
    "statement_timeout": {"type": "int", "default": 30000},
    "lock_timeout": {"type": "int", "default": 5000},
}

AWS_ARG_SPEC: dict[str, dict[str, Any]] = {
    "endpoint_url": {
        "type": "str",
        "aliases": ["aws_endpoint_url"],
        "fallback": (env_fallback, ["AWS_URL", "AWS_ENDPOINT_URL"]),
    },
    "region": {
        "type": "str",
        "aliases": ["aws_region"],
        "fallback": (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"]),
    },
    "access_key": {
        "type": "str",
        "aliases": ["aws_access_key_id"],
        "no_log": False,
        "fallback": (env_fallback, ["AWS_ACCESS_KEY_ID"]),
    },
    "secret_key": {
        "type": "str",
        "aliases": ["aws_secret_access_key"],
        "no_log": True,
        "fallback": (env_fallback, ["AWS_SECRET_ACCESS_KEY"]),
    },
    "session_token": {
        "type": "str",
        "aliases": ["aws_session_token"],
        "no_log": True,
        "fallback": (env_fallback, ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"]),
    },
    "profile": {"type": "str", "aliases": ["aws_profile"]},
}

#: Module option name -> keyword of ``k8s_config.K8sAuth`` / ``postgres.PgConnParams`` /
#: ``aws_clients.AwsConn``.
K8S_AUTH_KEYS = tuple(K8S_AUTH_ARG_SPEC)
POSTGRES_KEYS = tuple(POSTGRES_ARG_SPEC)
AWS_KEYS = tuple(AWS_ARG_SPEC)


def k8s_auth_argument_spec() -> dict[str, dict[str, Any]]:
    return copy.deepcopy(K8S_AUTH_ARG_SPEC)


def postgres_argument_spec() -> dict[str, dict[str, Any]]:
    return copy.deepcopy(POSTGRES_ARG_SPEC)


def aws_argument_spec() -> dict[str, dict[str, Any]]:
    return copy.deepcopy(AWS_ARG_SPEC)


#: The rollout wait of the Kubernetes modules that change Deployments (doc fragment k8s_wait).
WAIT_ARG_SPEC: dict[str, dict[str, Any]] = {
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 180},
    "wait_sleep": {"type": "float", "default": 1.0},
}


def wait_argument_spec(timeout: int = 180) -> dict[str, dict[str, Any]]:
    """The wait options; ``timeout`` is this module's default ``wait_timeout``."""
    spec = copy.deepcopy(WAIT_ARG_SPEC)
    spec["wait_timeout"]["default"] = timeout
    return spec


def check_wait(params: dict[str, Any]) -> None:
    """Refuse a wait that could never succeed (raises InvalidInputError)."""
    if params["wait_timeout"] <= 0:
        raise InvalidInputError("wait_timeout must be a positive number of seconds")


def pick(params: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The subset of module params named by ``keys``."""
    return {key: params.get(key) for key in keys}
