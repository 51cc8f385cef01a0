# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Where the Kubernetes API is and how to authenticate, without the kubernetes client.

``connection_settings`` reads the explicit options, the kubeconfig (``KUBECONFIG`` merged like
kubectl does, or ``~/.kube/config``) or the in-cluster service account, and returns what the
stdlib transport in ``k8s`` needs. Configurations it cannot serve (``exec`` or
``auth-provider`` users, unknown fields, SOCKS or HTTPS proxies) raise ``UnsupportedConfig``,
and ``k8s`` falls back to the kubernetes client for them.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
)

#: Where a pod finds its service account (in-cluster configuration).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
CLUSTER_FIELDS = frozenset(
    {
        "server",
        "certificate-authority",
        "certificate-authority-data",
        "insecure-skip-tls-verify",
        "tls-server-name",
        "proxy-url",
        "disable-compression",
        "extensions",
    }
)
USER_FIELDS = frozenset(
    {
        "token",
        "tokenFile",
        "client-certificate",
        "client-certificate-data",
        "client-key",
        "client-key-data",
        "username",
        "password",
        "extensions",
    }
)


@dataclass
class K8sAuth:
    """The connection options of the ``irdrive.ops.k8s_auth`` doc fragment."""

    kubeconfig: str | None = None
    context: str | None = None
    host: str | None = None
    api_key: str | None = None
    ca_cert: str | None = None
    validate_certs: bool | None = None
    request_timeout: float = 30.0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> K8sAuth:
        """From a module's parameters (the options of the ``irdrive.ops.k8s_auth`` fragment)."""
        names = cls.__dataclass_fields__
        return cls(**{name: params[name] for name in names if params.get(name) is not None})


@dataclass
class ConnectionSettings:
    """Where the API server is and how to authenticate: what the stdlib transport needs."""

    host: str
    authorization: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    ca_data: str | bytes | None = field(default=None, repr=False)
    verify: bool = True
    tls_server_name: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = field(default=None, repr=False)
    key_data: bytes | None = field(default=None, repr=False)
    proxy: str | None = field(default=None, repr=False)


class UnsupportedConfig(Exception):
    """The configuration needs the kubernetes client; ``reason`` says why."""


# ---- configuration ------------------------------------------------------------------------
def config_error(where: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"cannot load Kubernetes config from {where}: {message}")


def kubeconfig_paths(explicit: str | None) -> list[str]:
    """The kubeconfig files to merge: ``explicit``, else ``KUBECONFIG``, else ~/.kube/config."""
    spec = explicit or os.environ.get("KUBECONFIG") or "~/.kube/config"
    paths = [os.path.expanduser(p) for p in spec.split(os.pathsep) if p]
    found = [p for p in dict.fromkeys(paths) if os.path.exists(p)]
    if not found:
        raise config_error(spec, "no such file")
    return found


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml  # only a kubeconfig needs it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=loader)  # a safe loader (libyaml's when there)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise config_error(path, str(error)) from error
    if not isinstance(data, dict):
        raise config_error(path, "the file is empty or not a kubeconfig")
    return data


def load_kubeconfig(paths: list[str]) -> dict[str, Any]:
    """Merge kubeconfig files like kubectl: the first file that names an entry or sets a key wins.

    Entries of ``clusters``, ``users`` and ``contexts`` become ``{name: (fields, folder)}``; the
    folder of the file an entry came from resolves its relative paths.
    """
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": ""}
    for path in paths:
        data = _read_yaml(path)
        folder = os.path.dirname(os.path.abspath(path))
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in data.get(section) or []:
                if not isinstance(entry, dict) or not entry.get("name"):
                    raise config_error(path, f"every entry of {section} needs a name")
                fields = entry.get(key) or {}
                if not isinstance(fields, dict):
                    raise config_error(path, f"{section} {entry['name']}: {key} is not a mapping")
                merged[section].setdefault(str(entry["name"]), (fields, folder))
        if not merged["current-context"] and data.get("current-context"):
            merged["current-context"] = str(data["current-context"])
    return merged


def _resolve(folder: str, path: str) -> str:
    return os.path.join(folder, os.path.expanduser(str(path)))


def _decode_data(value: Any, what: str, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=False)
    except ValueError as error:
        raise config_error(where, f"{what} is not base64: {error}") from error


def _read_text(path: str, what: str, where: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as error:
        raise config_error(where, f"cannot read {what}: {error}") from error


def kubeconfig_settings(auth: K8sAuth) -> ConnectionSettings:
    """The connection of ``auth.context`` (else the current context) of the kubeconfig.

    Raises UnsupportedConfig for what only the kubernetes client handles (exec, auth-provider,
    unknown fields) unless ``auth.api_key`` replaces the user's credentials anyway.
    """
    paths = kubeconfig_paths(auth.kubeconfig)
    where = os.pathsep.join(paths)
    config = load_kubeconfig(paths)
    name = auth.context or config["current-context"]
    if not name:
        raise config_error(where, "no context given and no current-context set")
    if name not in config["contexts"]:
        known = ", ".join(sorted(config["contexts"])) or "none"
        raise config_error(where, f"context {name!r} not found (contexts: {known})")
    context, _ = config["contexts"][name]
    cluster_name = context.get("cluster")
    if cluster_name not in config["clusters"]:
        raise config_error(where, f"context {name!r}: cluster {cluster_name!r} not found")
    cluster, cluster_folder = config["clusters"][cluster_name]
    user_name = context.get("user")
    user, user_folder = config["users"].get(str(user_name), ({}, "")) if user_name else ({}, "")

    unknown = sorted(set(cluster) - CLUSTER_FIELDS)
    if unknown:
        raise UnsupportedConfig(
            f"for the kubeconfig cluster {cluster_name!r} ({', '.join(unknown)})"
        )
    if not auth.api_key:
        has_token = bool(user.get("token") or user.get("tokenFile"))
        if "auth-provider" in user:
            raise UnsupportedConfig(f"for the auth-provider of kubeconfig user {user_name!r}")
        if "exec" in user and not has_token:
            raise UnsupportedConfig(f"for the exec credentials of kubeconfig user {user_name!r}")
        unknown = sorted(set(user) - USER_FIELDS - {"exec"})
        if unknown:
            raise UnsupportedConfig(f"for the kubeconfig user {user_name!r} ({', '.join(unknown)})")
    server = str(cluster.get("server") or "")
    if not server:
        raise config_error(where, f"cluster {cluster_name!r} has no server")
    settings = ConnectionSettings(host=server)
    if cluster.get("certificate-authority-data"):
        settings.ca_data = _pem_or_der(
            _decode_data(cluster["certificate-authority-data"], "certificate-authority-data", where)
        )
    elif cluster.get("certificate-authority"):
        settings.ca_file = _resolve(cluster_folder, cluster["certificate-authority"])
    if "insecure-skip-tls-verify" in cluster:
        settings.verify = not cluster["insecure-skip-tls-verify"]
    settings.tls_server_name = cluster.get("tls-server-name") or None
    settings.proxy = cluster.get("proxy-url") or None

    if user.get("token"):
        settings.authorization = f"Bearer {user['token']}"
    elif user.get("tokenFile"):
        token = _read_text(_resolve(user_folder, user["tokenFile"]), "tokenFile", where)
        settings.authorization = f"Bearer {token}"
    elif user.get("username") and user.get("password"):
        pair = f"{user['username']}:{user['password']}".encode()
        settings.authorization = f"Basic {base64.b64encode(pair).decode()}"
    if user.get("client-certificate-data"):
        settings.cert_data = _decode_data(
            user["client-certificate-data"], "client-certificate-data", where
        )
    elif user.get("client-certificate"):
        settings.cert_file = _resolve(user_folder, user["client-certificate"])
    if user.get("client-key-data"):
        settings.key_data = _decode_data(user["client-key-data"], "client-key-data", where)
    elif user.get("client-key"):
        settings.key_file = _resolve(user_folder, user["client-key"])
    return settings


def _pem_or_der(data: bytes) -> str | bytes:
    """``ssl`` takes PEM as text and DER as bytes."""
    return data.decode("ascii") if b"-----BEGIN" in data else data


def in_cluster_settings() -> ConnectionSettings:
    """The service account of the pod we run in (what ``load_incluster_config`` reads)."""
    where = "the in-cluster service account"
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise config_error(where, "KUBERNETES_SERVICE_HOST/PORT is not set")
    token_file = os.path.join(SERVICE_ACCOUNT_DIR, "token")
    ca_file = os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt")
    for path in (token_file, ca_file):
        if not os.path.isfile(path):
            raise config_error(where, f"{path} does not exist")
    token = _read_text(token_file, "the service account token", where)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return ConnectionSettings(
        host=f"https://{netloc}", authorization=f"Bearer {token}", ca_file=ca_file
    )


def _env_proxies() -> dict[str, str]:
    """``<scheme>_proxy`` variables, lower case winning, as ``urllib.request.getproxies`` reads."""
    found: dict[str, str] = {}
    for lower_wins in (False, True):
        for name, value in os.environ.items():
            if value and name.lower().endswith("_proxy") and name.islower() == lower_wins:
                found[name[:-6].lower()] = value
    return found


def proxy_bypassed(host_url: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (comma-separated hosts, domains, CIDRs, ``*``) exempts the host."""
    import ipaddress

    split = urlsplit(host_url)
    host = (split.hostname or "").lower()
    if not host:
        return True
    netloc = split.netloc.lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry) or netloc == entry:
            return True
    return False


def _choose_proxy(settings: ConnectionSettings) -> None:
    """Set ``settings.proxy`` to the proxy that applies (kubeconfig, else environment), or None."""
    proxies = _env_proxies()
    scheme = urlsplit(settings.host).scheme
    proxy = settings.proxy or proxies.get(scheme) or proxies.get("all")
    if proxy and proxy_bypassed(settings.host, proxies.get("no", "")):
        proxy = None
    if proxy and urlsplit(proxy).scheme != "http":
        raise UnsupportedConfig(f"for the {urlsplit(proxy).scheme or 'schemeless'} proxy")
    settings.proxy = proxy or None


def connection_settings(auth: K8sAuth) -> ConnectionSettings:
    """Explicit host/api_key, a kubeconfig/context, or in-cluster config; explicit options win.

    Raises UnsupportedConfig when only the kubernetes client can make this connection.
    """
    if auth.host and auth.api_key:
        settings = ConnectionSettings(host=auth.host)
    elif auth.kubeconfig or auth.context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        settings = kubeconfig_settings(auth)
    else:
        settings = in_cluster_settings()
    if auth.host:
        settings.host = auth.host
    if auth.api_key:
        settings.authorization = f"Bearer {auth.api_key}"
    if auth.ca_cert:
        settings.ca_file, settings.ca_data = auth.ca_cert, None
    if auth.validate_certs is not None:
        settings.verify = auth.validate_certs
    settings.host = settings.host.rstrip("/")
    if "://" not in settings.host:
        settings.host = f"https://{settings.host}"
    if urlsplit(settings.host).scheme not in ("http", "https"):
        raise InvalidInputError(f"the Kubernetes API URL {settings.host} is not http(s)")
    _choose_proxy(settings)
    return settings


def ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """The TLS context: the configured CA (else the system's), client certificate, checks."""
    try:
        if settings.verify:
            context = ssl.create_default_context(
                cafile=settings.ca_file, cadata=settings.ca_data or None
            )
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _load_client_certificate(context, settings)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise InvalidInputError(
            f"cannot use the TLS settings for {settings.host}: {error}"
        ) from error
    return context


def _load_client_certificate(context: ssl.SSLContext, settings: ConnectionSettings) -> None:
    """Load the client certificate and key; ``ssl`` reads files only, so data goes to temporary
    files (mode 0600) that are deleted as soon as it is loaded."""
    if not (settings.cert_file or settings.cert_data):
        return
    import tempfile

    written: list[str] = []

    def as_file(path: str | None, data: bytes | None) -> str | None:
        if data is None:
            return path
        fd, name = tempfile.mkstemp(prefix="irdrive-k8s-", suffix=".pem")
        written.append(name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return name

    try:
        cert = as_file(settings.cert_file, settings.cert_data)
        key = as_file(settings.key_file, settings.key_data)
        context.load_cert_chain(str(cert), key)
    finally:
        for name in written:
            os.unlink(name)


# ---- transports ---------------------------------------------------------------------------
