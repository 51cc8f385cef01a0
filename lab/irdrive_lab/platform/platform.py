"""The platform's HTTP endpoints and the lab's control API, served by labd on port base + 2.

Every answer is computed from the lab's live state, never stored: platform health from the
Ready pods of frontend and backend plus a real ``SELECT 1`` on the lab's PostgreSQL, payments
health from the environment the *running* payment-service pods started with (so a changed
configmap counts only after a rollout, as on a cluster), the CDN from the Route53 record
``cdn.platform.com`` in the lab's moto. Faults that live in labd are switched here, under
``/_lab/``, and only from the loopback address.

Documented simplifications:
- The streaming host's video storage counts as full when ``TMP_FILES_LIMIT`` or more ``*.tmp``
  files lie below it, or, when it is a filesystem of its own (the lab's tmpfs), when that is
  ``STORAGE_FULL_RATIO`` used. Fault disk-full writes 200 such files (sparse ones on a plain
  folder, so their apparent size says nothing); deleting them, or the old two thirds of
  them, makes it healthy again.
- Clearing bad-deploy marks the bad image good again: its pods then become Ready. It does not
  roll the deployment back; that is the operator's job (``kubectl rollout undo``).
- The cache behind ``/_admin/cache/*`` is an in-memory dict; ``GET /`` reads through it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.journal import Journal
from irdrive_lab.control.state import LabState
from irdrive_lab.kube.errors import ApiError, Conflict, NotFound

log = logging.getLogger(__name__)

NAMESPACE = "platform"
ENV_ANNOTATION = "lab.irdrive.io/env"
PROCESSORS = ("ccbill", "segpay")
CDN_RECORD = "cdn.platform.com"
BACKUP_CDN_HOST = "platform.backup-cdn.net"
PRIMARY_CDN_SUFFIX = ".cloudfront.net"
TMP_FILES_LIMIT = 100
STORAGE_FULL_RATIO = 0.95
DB_APPNAME = "irdrive-lab"  # as irdrive_lab.pg.postgres names the lab's own sessions
ADMIN_TOKEN_ENV = "IRDRIVE_LAB_ADMIN_TOKEN"
ADMIN_TOKEN_FILE = "platform-admin-token"  # in cfg.run_dir, mode 0600
WARM_KEYS_DEFAULT = 100
WARM_KEYS_MAX = 10_000
PRESSURE_LATENCY_MS = 800
FLAKY_MODES = ("500", "409", "slow")
LABD_FAULTS = ("api-flaky", "bad-deploy", "cdn-down", "processor-down", "resource-pressure")
EXTERNAL_FAULTS = ("db-down", "db-slow", "disk-full", "intrusion")

InfoProvider = Callable[[], dict[str, Any] | None]
CdnResolver = Callable[[], str]
DbCheck = Callable[[], tuple[bool, str]]


class BadRequest(ValueError):
    """Bad input to an endpoint: answered 400 with the message."""


class CdnResolutionError(RuntimeError):
    """cdn.platform.com could not be resolved through the lab's Route53."""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


class TTLCache:
    """Remember one computed value (or the exception it raised) for ``ttl`` seconds."""

    def __init__(self, fn: Callable[[], Any], ttl: float) -> None:
        self._fn, self._ttl = fn, ttl
        self._lock = threading.Lock()
        self._at = -1e9
        self._value: Any = None
        self._error: Exception | None = None

    def __call__(self) -> Any:
        with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                try:
                    self._value, self._error = self._fn(), None
                except Exception as exc:  # noqa: BLE001 - cached and re-raised to each caller
                    self._value, self._error = None, exc
                self._at = time.monotonic()
            if self._error is not None:
                raise self._error
            return self._value


# ---- pods ---------------------------------------------------------------------------------
def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Running, not being deleted, and its Ready condition is True."""
    if dig(pod, "metadata", "deletionTimestamp") or dig(pod, "status", "phase") != "Running":
        return False
    conditions = dig(pod, "status", "conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def deployment_pods(store: Any, name: str) -> list[dict[str, Any]] | None:
    """The pods matched by the deployment's selector, or None when it does not exist."""
    try:
        dep = store.get("deployments.apps", NAMESPACE, name)
    except NotFound:
        return None
    labels = dig(dep, "spec", "selector", "matchLabels") or {"app": name}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    items, _ = store.list("pods", NAMESPACE, label_selector=selector)
    return list(items)


def pod_env(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = (dig(pod, "metadata", "annotations") or {}).get(ENV_ANNOTATION)
    if not raw:
        return None
    try:
        env = json.loads(raw)
    except ValueError:
        return None
    return env if isinstance(env, dict) else None


def configmap_data(store: Any, name: str) -> dict[str, str] | None:
    try:
        return dict(store.get("configmaps", NAMESPACE, name).get("data") or {})
    except NotFound:
        return None


def bad_image_of(image: str) -> str:
    """``repo:1.4.2`` -> ``repo:1.4.2-bad``; without a tag ``repo:latest-bad``; digests dropped."""
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        return f"{name}-bad"
    return f"{name}:latest-bad"


# ---- outside checks: PostgreSQL, Route53, the streaming host's storage ---------------------
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


class Route53CdnResolver:
    """The target of ``cdn.platform.com`` (CNAME value or alias DNS name) in the lab's moto."""

    def __init__(self, info_provider: InfoProvider) -> None:
        self._info = info_provider
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}

    def _client(self, aws: Mapping[str, Any]) -> Any:
        endpoint, region = aws["endpoint"], aws.get("region") or "us-east-1"
        with self._lock:
            client = self._clients.get((endpoint, region))
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.session.Session().client(
                    "route53",
                    endpoint_url=endpoint,
                    region_name=region,
                    aws_access_key_id=aws.get("access_key_id") or "testing",
                    aws_secret_access_key=aws.get("secret_access_key") or "testing",
                    config=Config(
                        retries={"mode": "standard", "max_attempts": 2},
                        connect_timeout=1,
                        read_timeout=2,
                    ),
                )
                self._clients[(endpoint, region)] = client
            return client

    def __call__(self) -> str:
        aws = dig(self._info(), "aws") or {}
        if not aws.get("endpoint"):
            raise CdnResolutionError("no AWS endpoint in lab.json")
        zone = aws.get("hosted_zone_id") or dig(aws, "resources", "hosted_zone_id")
        if not zone:
            raise CdnResolutionError("no hosted_zone_id in lab.json")
        client = self._client(aws)
        kwargs: dict[str, Any] = {"HostedZoneId": zone}
        try:
            while True:
                page = client.list_resource_record_sets(**kwargs)
                for rrset in page.get("ResourceRecordSets", []):
                    if rrset["Name"].rstrip(".").lower() != CDN_RECORD:
                        continue
                    if rrset.get("AliasTarget"):
                        return str(rrset["AliasTarget"]["DNSName"]).rstrip(".").lower()
                    if rrset["Type"] == "CNAME" and rrset.get("ResourceRecords"):
                        return str(rrset["ResourceRecords"][0]["Value"]).rstrip(".").lower()
                if not page.get("IsTruncated"):
                    break
                kwargs = {"HostedZoneId": zone, "StartRecordName": page["NextRecordName"]}
                if page.get("NextRecordType"):
                    kwargs["StartRecordType"] = page["NextRecordType"]
        except Exception as exc:  # botocore's errors, imported lazily
            raise CdnResolutionError(f"Route53 lookup failed: {exc}") from exc
        raise CdnResolutionError(f"no CNAME or alias record {CDN_RECORD} in zone {zone}")


def edge_for(target: str, backup_host: str = BACKUP_CDN_HOST) -> str | None:
    """primary for a CloudFront name, backup for the backup CDN, None for anything else."""
    target = target.rstrip(".").lower()
    if target.endswith(PRIMARY_CDN_SUFFIX):
        return "primary"
    if target == backup_host:
        return "backup"
    return None


def video_storage_usage(cfg: LabConfig, info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``*.tmp`` files below the streaming host's video storage and its fullness, or None."""
    configured = dig(info, "hosts", "streaming", "paths", "video_storage")
    if not configured:
        return None
    path = Path(configured)
    if not path.is_dir():
        path = cfg.host_root("streaming") / str(configured).lstrip("/")
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            if name.endswith(".tmp"):
                files += 1
                with contextlib.suppress(OSError):
                    size += os.stat(os.path.join(root, name)).st_size
    used = None
    if path.is_dir() and os.path.ismount(path):
        st = os.statvfs(path)
        if st.f_blocks:
            used = round(1 - st.f_bavail / st.f_blocks, 4)
    full = files >= TMP_FILES_LIMIT or (used is not None and used >= STORAGE_FULL_RATIO)
    return {
        "path": str(path),
        "tmp_files": files,
        "tmp_bytes": size,
        "used_ratio": used,
        "full": full,
    }


# ---- the CDN origin's test object ----------------------------------------------------------
def _test_video() -> bytes:
    """A small deterministic MP4-shaped payload: an ``ftyp`` box, then hashed filler."""
    head = (24).to_bytes(4, "big") + b"ftypisom" + (512).to_bytes(4, "big") + b"isomiso2"
    filler = bytearray()
    block = b"irdrive-lab-test-video"
    while len(filler) < 64 * 1024:
        block = hashlib.sha256(block).digest()
        filler += block
    return head + bytes(filler[: 64 * 1024 - len(head)])


TEST_VIDEO = _test_video()
TEST_VIDEO_ETAG = '"' + hashlib.sha256(TEST_VIDEO).hexdigest()[:32] + '"'


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """One ``bytes=a-b`` range -> (start, end) inclusive; None to send it all; "bad" for 416."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                return "bad"
            return max(0, size - length), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "bad"
    return start, min(end, size - 1)


# ---- responses -----------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, obj: Any, **headers: str) -> Response:
    body = (json.dumps(obj, sort_keys=True) + "\n").encode()
    return Response(status, body, "application/json", dict(headers))


def error(status: int, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


@dataclass
class Request:
    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""
    client: str = "127.0.0.1"

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise BadRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        return data


class ContentCache:
    """The platform's application cache: an in-memory dict with hit and miss counters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, bytes] = {}
        self.hits = self.misses = 0
        self.last_cleared_at: str | None = None
        self.last_warmed_at: str | None = None

    def read_through(self, key: str, produce: Callable[[], bytes]) -> bytes:
        with self.lock:
            if key in self.entries:
                self.hits += 1
                return self.entries[key]
            self.misses += 1
            value = self.entries[key] = produce()
            return value

    def clear(self) -> int:
        with self.lock:
            removed = len(self.entries)
            self.entries.clear()
            self.last_cleared_at = utc_now()
            return removed

    def warm(self, count: int) -> int:
        with self.lock:
            for i in range(count):
                self.entries.setdefault(f"item:{i}", f"cached item {i}".encode())
            self.last_warmed_at = utc_now()
            return len(self.entries)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "keys": len(self.entries),
                "hits": self.hits,
                "misses": self.misses,
                "last_cleared_at": self.last_cleared_at,
                "last_warmed_at": self.last_warmed_at,
            }


def resolve_admin_token(cfg: LabConfig, info: Mapping[str, Any] | None) -> str:
    """The bearer token of ``/_admin``: env, lab.json, the run file, or a new one saved there."""
    token = os.environ.get(ADMIN_TOKEN_ENV) or dig(info, "platform", "admin_token")
    if token:
        return str(token)
    path = cfg.run_dir / ADMIN_TOKEN_FILE
    try:
        saved = path.read_text().strip()
        if saved:
            return saved
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


# ---- faults that live in labd --------------------------------------------------------------
def _int_param(params: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{key} must be an integer from {low} to {high}, not {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{key} must be an integer from {low} to {high}, not {value!r}") from None
    if not low <= number <= high:
        raise BadRequest(f"{key} must be an integer from {low} to {high}, not {number}")
    return number


def _processor_param(params: Mapping[str, Any], default: str | None) -> str | None:
    processor = params.get("processor", default)
    if processor is not None and processor not in PROCESSORS:
        raise BadRequest(f"unknown processor {processor!r}; known: {', '.join(PROCESSORS)}")
    return processor


class LabFaults:
    """Inject and clear the faults that live in labd; each is recorded in ``state.faults``."""

    def __init__(self, store: Any, state: LabState) -> None:
        self.store, self.state = store, state
        self._inject: dict[str, Callable[[dict[str, Any]], None]] = {
            "processor-down": self._processor_down,
            "cdn-down": self._cdn_down,
            "bad-deploy": self._bad_deploy,
            "resource-pressure": self._resource_pressure,
            "api-flaky": self._api_flaky,
        }
        self._clear: dict[str, Callable[[dict[str, Any]], None]] = {
            "processor-down": self._processor_up,
            "cdn-down": self._cdn_up,
            "bad-deploy": self._bad_deploy_clear,
            "resource-pressure": self._pressure_clear,
            "api-flaky": self._api_flaky_clear,
        }

    @staticmethod
    def check_name(name: str) -> None:
        if name in LABD_FAULTS:
            return
        if name in EXTERNAL_FAULTS:
            raise BadRequest(
                f"fault {name} is not applied by labd; use `irdrive lab fault {name}`; "
                f"labd's faults: {', '.join(LABD_FAULTS)}"
            )
        raise BadRequest(f"unknown fault {name}; known: {', '.join(LABD_FAULTS)}")

    def inject(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_name(name)
        self._inject[name](params)
        with self.state.lock:
            return {
                "fault": name,
                "active": name in self.state.faults,
                "record": copy.deepcopy(self.state.faults.get(name)),
            }

    def clear(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_name(name)
        self._clear[name](params)
        with self.state.lock:
            return {"fault": name, "active": name in self.state.faults}

    def _record(self, name: str, params: dict[str, Any], **details: Any) -> None:
        """Caller holds state.lock."""
        self.state.faults[name] = {"params": params, "at": utc_now(), **details}

    def _processor_down(self, params: dict[str, Any]) -> None:
        processor = _processor_param(params, "ccbill")
        assert processor is not None
        with self.state.lock:
            self.state.processors_down.add(processor)
            self._record(
                "processor-down",
                {"processor": processor},
                processors=sorted(self.state.processors_down),
            )

    def _processor_up(self, params: dict[str, Any]) -> None:
        processor = _processor_param(params, None)
        with self.state.lock:
            if processor is None:
                self.state.processors_down.clear()
            else:
                self.state.processors_down.discard(processor)
            record = self.state.faults.get("processor-down")
            if not self.state.processors_down:
                self.state.faults.pop("processor-down", None)
            elif record is not None:
                record["processors"] = sorted(self.state.processors_down)

    def _cdn_down(self, params: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.cdn_down = True
            self._record("cdn-down", {})

    def _cdn_up(self, params: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.cdn_down = False
            self.state.faults.pop("cdn-down", None)

    def _resource_pressure(self, params: dict[str, Any]) -> None:
        latency = _int_param(params, "latency_ms", PRESSURE_LATENCY_MS, 0, 60_000)
        with self.state.lock:
            self.state.pressure = True
            self.state.extra_latency_ms = latency
            self._record("resource-pressure", {"latency_ms": latency})

    def _pressure_clear(self, params: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.pressure = False
            self.state.extra_latency_ms = 0
            self.state.faults.pop("resource-pressure", None)

    def _api_flaky(self, params: dict[str, Any]) -> None:
        count = _int_param(params, "count", 10, 1, 10_000)
        modes = params.get("modes", list(FLAKY_MODES))
        if isinstance(modes, str):
            modes = [m.strip() for m in modes.split(",") if m.strip()]
        if not isinstance(modes, list) or not modes or any(m not in FLAKY_MODES for m in modes):
            raise BadRequest(f"modes must be a list drawn from {', '.join(FLAKY_MODES)}")
        slow = params.get("slow_seconds", 2.0)
        if isinstance(slow, bool) or not isinstance(slow, int | float) or not 0 < slow <= 60:
            raise BadRequest(f"slow_seconds must be a number above 0 and at most 60, not {slow!r}")
        with self.state.lock:
            self.state.flaky_remaining = count
            self.state.flaky_modes = [str(m) for m in modes]
            self.state.flaky_slow_seconds = float(slow)
            self.state.flaky_counter = 0
            self._record("api-flaky", {"count": count, "modes": modes, "slow_seconds": slow})

    def _api_flaky_clear(self, params: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.flaky_remaining = 0
            self.state.faults.pop("api-flaky", None)

    def _bad_deploy(self, params: dict[str, Any]) -> None:
        """Roll the deployment to ``<image>-bad``, an image whose containers crash on start.

        Read-modify-write with the object's resourceVersion (retried on 409), so no store lock
        is held while the simulation reacts to the change.
        """
        name = str(params.get("deployment") or "backend")
        container, current, bad = self._roll_to_bad_image(name, params.get("container"))
        with self.state.lock:
            record = self.state.faults.get("bad-deploy") or {}
            images = {**record.get("images", {}), name: bad}
            previous = {**record.get("previous_images", {})}
            if current != bad:
                previous[name] = current
            self._record(
                "bad-deploy",
                {"deployment": name, "container": container},
                images=images,
                previous_images=previous,
            )

    def _roll_to_bad_image(self, name: str, wanted: str | None) -> tuple[str, str, str]:
        """Set the container's image to its bad twin; return (container, image before, bad)."""
        for attempt in range(5):
            try:
                dep = self.store.get("deployments.apps", NAMESPACE, name)
            except NotFound:
                raise BadRequest(f"deployment {name} not found in namespace {NAMESPACE}") from None
            containers = dig(dep, "spec", "template", "spec", "containers") or []
            target = next((c for c in containers if wanted in (None, c.get("name"))), None)
            if target is None or not target.get("image"):
                raise BadRequest(f"deployment {name} has no container {wanted or ''}".strip())
            current = str(target["image"])
            with self.state.lock:
                if current in self.state.bad_images:  # injected before: nothing to roll
                    return str(target.get("name")), current, current
                bad = bad_image_of(current)
                self.state.bad_images.add(bad)
            target["image"] = bad
            try:
                self.store.update("deployments.apps", dep)
                return str(target.get("name")), current, bad
            except Conflict:
                with self.state.lock:
                    self.state.bad_images.discard(bad)
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _bad_deploy_clear(self, params: dict[str, Any]) -> None:
        """Mark the bad image(s) good again; rolling back stays the operator's job."""
        name = params.get("deployment")
        with self.state.lock:
            record = self.state.faults.get("bad-deploy") or {}
            images: dict[str, str] = dict(record.get("images", {}))
            if name is None:
                self.state.bad_images.clear()
                images.clear()
            elif name in images:
                self.state.bad_images.discard(images.pop(name))
            if images:
                record["images"] = images
            else:
                self.state.faults.pop("bad-deploy", None)


# ---- the application -----------------------------------------------------------------------
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
HOME_PAGE = (
    b"<!doctype html>\n<html><head><title>Platform</title></head>\n"
    b"<body><h1>Platform</h1><p>Videos, payments and messaging, served by the irdrive lab.</p>"
    b'<p><a href="/health">health</a></p></body></html>\n'
)


class PlatformApp:
    """Routes a request to an answer; knows nothing of sockets, so tests call ``handle``."""

    def __init__(
        self,
        store: Any,
        state: LabState,
        cfg: LabConfig,
        info_provider: InfoProvider,
        *,
        on_reset: Callable[[], None] | None = None,
        cdn_resolver: CdnResolver | None = None,
        db_check: DbCheck | None = None,
        admin_token: str | None = None,
    ) -> None:
        self.store, self.state, self.cfg = store, state, cfg
        self.on_reset = on_reset
        self._info = TTLCache(info_provider, 0.5)
        self._cdn_target = TTLCache(cdn_resolver or Route53CdnResolver(self.info), 0.5)
        self._db = TTLCache(
            db_check or (lambda: postgres_check(self.info, backend_logins(self.store))), 1.0
        )
        self.cache = ContentCache()
        self.faults = LabFaults(store, state)
        self.journal = Journal(cfg.journal_file)
        self.admin_token = admin_token or resolve_admin_token(cfg, self.info())

    def info(self) -> dict[str, Any] | None:
        try:
            return self._info()
        except (OSError, ValueError) as exc:
            log.warning("cannot read lab.json: %s", exc)
            return None

    def handle(self, req: Request) -> Response:
        try:
            if req.path.startswith("/_lab/"):
                return self._lab(req)
            if req.path.startswith("/_admin/"):
                return self._admin(req)
            if req.method not in ("GET", "HEAD"):
                return error(405, f"{req.method} is not allowed on {req.path}", allow="GET, HEAD")
            return self._get(req)
        except BadRequest as exc:
            return error(400, str(exc))
        except ApiError as exc:
            return error(exc.code, exc.message)

    def _get(self, req: Request) -> Response:
        path = req.path
        if path == "/":
            self._added_latency()
            body = self.cache.read_through("page:/", lambda: HOME_PAGE)
            return Response(200, body, "text/html; charset=utf-8")
        if path == "/health":
            self._added_latency()
            return self.platform_health()
        if path == "/payments/health":
            return self.payments_health()
        if path.startswith("/processors/") and path.endswith("/health"):
            return self.processor_health(path[len("/processors/") : -len("/health")])
        if path == "/streaming/health":
            return self.streaming_health()
        if path == "/origin/test.mp4":
            return self.origin_object(req)
        if path.startswith("/cdn/"):
            return self.cdn(req, path[len("/cdn/") :])
        return error(404, f"no such endpoint: {path}")

    def _added_latency(self) -> None:
        with self.state.lock:
            delay = self.state.extra_latency_ms / 1000.0
        if delay > 0 and self.state.pressure_effective():
            time.sleep(delay)

    # ---- health ---------------------------------------------------------------------------
    def _deployment_check(self, name: str) -> dict[str, Any]:
        pods = deployment_pods(self.store, name)
        if pods is None:
            return {"ok": False, "detail": f"deployment {name} not found"}
        ready = sum(1 for p in pods if pod_is_ready(p))
        detail = f"{ready}/{len(pods)} pods ready"
        return {"ok": ready > 0, "ready": ready, "pods": len(pods), "detail": detail}

    def platform_health(self) -> Response:
        checks = {name: self._deployment_check(name) for name in ("frontend", "backend")}
        try:
            ok, detail = self._db()
        except Exception as exc:  # noqa: BLE001 - a broken check is a failed check
            ok, detail = False, str(exc)
        checks["database"] = {"ok": ok, "detail": detail}
        healthy = all(c["ok"] for c in checks.values())
        return json_response(
            200 if healthy else 503, {"status": "ok" if healthy else "down", "checks": checks}
        )

    def payments_health(self) -> Response:
        switch = (configmap_data(self.store, "kill-switches") or {}).get("payments")
        ready = [p for p in deployment_pods(self.store, "payment-service") or [] if pod_is_ready(p)]
        counts: Counter[str] = Counter()
        newest: dict[str, str] = {}
        for pod in ready:
            processor = (pod_env(pod) or {}).get("PRIMARY_PROCESSOR")
            if processor:
                counts[processor] += 1
                created = str(dig(pod, "metadata", "creationTimestamp") or "")
                newest[processor] = max(newest.get(processor, ""), created)
        if counts:
            processor = max(counts, key=lambda p: (counts[p], newest[p]))
            source = "pods"
        else:
            config = configmap_data(self.store, "payment-config") or {}
            processor, source = config.get("PRIMARY_PROCESSOR"), "payment-config"
        body: dict[str, Any] = {
            "processor": processor,
            "processor_source": source,
            "pods_ready": len(ready),
            "kill_switch": switch,
        }
        if len(counts) > 1:
            body["processors"] = dict(sorted(counts.items()))
        with self.state.lock:
            down = set(self.state.processors_down)
        if switch == "disabled":
            return json_response(
                503,
                {**body, "status": "disabled", "error": "payments are disabled by the kill switch"},
            )
        if switch != "enabled":
            return json_response(
                503, {**body, "status": "down", "error": f"kill switch payments is {switch!r}"}
            )
        if not ready:
            return json_response(
                503, {**body, "status": "down", "error": "no ready payment-service pods"}
            )
        if not processor:
            return json_response(
                503, {**body, "status": "down", "error": "no PRIMARY_PROCESSOR configured"}
            )
        if processor in down or processor not in PROCESSORS:
            return json_response(
                503, {**body, "status": "degraded", "error": f"processor {processor} unreachable"}
            )
        return json_response(200, {**body, "status": "ok"})

    def processor_health(self, name: str) -> Response:
        if name not in PROCESSORS:
            return error(404, f"unknown processor {name!r}; known: {', '.join(PROCESSORS)}")
        with self.state.lock:
            down = name in self.state.processors_down
        if down:
            return json_response(
                503, {"status": "down", "processor": name, "error": f"processor {name} unreachable"}
            )
        return json_response(200, {"status": "ok", "processor": name})

    def _backup_host(self) -> str:
        return str(dig(self.info(), "aws", "resources", "backup_cdn_hostname") or BACKUP_CDN_HOST)

    def _cdn_check(self) -> dict[str, Any]:
        try:
            target = self._cdn_target()
        except CdnResolutionError as exc:
            return {"ok": False, "detail": str(exc)}
        edge = edge_for(target, self._backup_host())
        if edge is None:
            return {"ok": False, "target": target, "detail": f"{CDN_RECORD} -> {target}: no edge"}
        with self.state.lock:
            up = not (edge == "primary" and self.state.cdn_down)
        detail = f"{edge} edge {'up' if up else 'down'}"
        return {"ok": up, "edge": edge, "target": target, "detail": detail}

    def streaming_health(self) -> Response:
        checks = {
            "streaming-service": self._deployment_check("streaming-service"),
            "cdn": self._cdn_check(),
        }
        usage = video_storage_usage(self.cfg, self.info())
        if usage is None:
            checks["video_storage"] = {"ok": True, "detail": "not configured in lab.json"}
        else:
            detail = (
                f"{usage['tmp_files']} *.tmp files (full at {TMP_FILES_LIMIT}); filesystem used: "
                f"{usage['used_ratio'] if usage['used_ratio'] is not None else 'not its own mount'}"
            )
            checks["video_storage"] = {"ok": not usage["full"], **usage, "detail": detail}
        switch = (configmap_data(self.store, "kill-switches") or {}).get("streaming")
        if switch == "disabled":
            checks["kill_switch"] = {"ok": False, "detail": "streaming disabled by kill switch"}
        healthy = all(c["ok"] for c in checks.values())
        status = "ok" if healthy else ("disabled" if switch == "disabled" else "down")
        return json_response(200 if healthy else 503, {"status": status, "checks": checks})

    # ---- CDN and origin -------------------------------------------------------------------
    def cdn(self, req: Request, rest: str) -> Response:
        edge, _, obj = rest.partition("/")
        if edge in ("primary", "backup") and obj:
            return self._edge(req, edge, obj, None)
        try:
            target = self._cdn_target()
        except CdnResolutionError as exc:
            return error(502, f"{CDN_RECORD} does not resolve: {exc}", edge="none")
        found = edge_for(target, self._backup_host())
        if found is None:
            return error(502, f"{CDN_RECORD} points to {target}, no CDN edge of the lab")
        return self._edge(req, found, rest, target)

    def _edge(self, req: Request, edge: str, obj: str, target: str | None) -> Response:
        headers = {"X-Lab-Edge": edge}
        if target:
            headers["X-Lab-Cdn-Target"] = target
        with self.state.lock:
            down = edge == "primary" and self.state.cdn_down
        if down:
            resp = error(502, "bad gateway: the primary CDN edge is down", edge=edge)
        elif obj == "health":
            resp = json_response(200, {"status": "ok", "edge": edge})
        elif obj == "test.mp4":
            resp = self.origin_object(req)
        else:
            resp = error(404, f"no object {obj!r} at the {edge} edge", edge=edge)
        resp.headers.update(headers)
        return resp

    def origin_object(self, req: Request) -> Response:
        size = len(TEST_VIDEO)
        headers = {"ETag": TEST_VIDEO_ETAG, "Accept-Ranges": "bytes"}
        if req.headers.get("if-none-match") in (TEST_VIDEO_ETAG, "*"):
            return Response(304, b"", "video/mp4", headers)
        wanted = parse_range(req.headers.get("range"), size)
        if wanted == "bad":
            return Response(416, b"", "video/mp4", {**headers, "Content-Range": f"bytes */{size}"})
        if isinstance(wanted, tuple):
            start, end = wanted
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return Response(206, TEST_VIDEO[start : end + 1], "video/mp4", headers)
        return Response(200, TEST_VIDEO, "video/mp4", headers)

    # ---- /_admin/cache --------------------------------------------------------------------
    def _authorized(self, req: Request) -> bool:
        scheme, _, token = (req.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.admin_token.encode()
        )

    def _admin(self, req: Request) -> Response:
        action = req.path.removeprefix("/_admin/cache/")
        methods = {"stats": ("GET", "HEAD"), "clear": ("POST",), "warm": ("POST",)}
        if not req.path.startswith("/_admin/cache/") or action not in methods:
            return error(404, f"no such endpoint: {req.path}")
        if not self._authorized(req):
            resp = error(401, "missing or wrong bearer token")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="platform-admin"'
            return resp
        if req.method not in methods[action]:
            return error(405, f"{req.method} is not allowed on {req.path}")
        if action == "stats":
            return json_response(200, self.cache.stats())
        if action == "clear":
            removed = self.cache.clear()
            self.journal.record(
                "platform", req.method, req.path, req.body, 200, action="cache.clear", keys=removed
            )
            return json_response(200, {"cleared": removed, **self.cache.stats()})
        params = req.json()
        query = req.query.get("keys")
        if query and "keys" not in params:
            params["keys"] = query[0]
        count = _int_param(params, "keys", WARM_KEYS_DEFAULT, 1, WARM_KEYS_MAX)
        self.cache.warm(count)
        self.journal.record(
            "platform", req.method, req.path, req.body, 200, action="cache.warm", keys=count
        )
        return json_response(200, {"warmed": count, **self.cache.stats()})

    # ---- /_lab ----------------------------------------------------------------------------
    def _lab(self, req: Request) -> Response:
        if req.client not in LOOPBACK:
            return error(403, "the lab control API answers only on the loopback address")
        path = req.path
        if path == "/_lab/state" and req.method in ("GET", "HEAD"):
            return json_response(200, self.state.snapshot())
        if path == "/_lab/reset" and req.method == "POST":
            resp = json_response(200, self.reset())
        elif path.startswith("/_lab/faults/") and req.method in ("POST", "DELETE"):
            name = path.removeprefix("/_lab/faults/")
            params = req.json()
            if req.method == "POST":
                result = self.faults.inject(name, params)
            else:
                result = self.faults.clear(name, params)
            resp = json_response(200, {**result, "state": self.state.snapshot()})
        elif path in ("/_lab/state", "/_lab/reset") or path.startswith("/_lab/faults/"):
            return error(405, f"{req.method} is not allowed on {path}")
        else:
            return error(404, f"no such endpoint: {path}")
        self.journal.record("lab", req.method, path, req.body, resp.status)
        return resp

    def reset(self) -> dict[str, Any]:
        """Clear labd's faults and the cache, then let labd reseed the cluster."""
        with self.state.lock:
            self.state.processors_down.clear()
            self.state.cdn_down = False
            self.state.bad_images.clear()
            self.state.pressure = False
            self.state.extra_latency_ms = 0
            self.state.flaky_remaining = 0
            self.state.faults.clear()
        self.cache = ContentCache()
        if self.on_reset is not None:
            self.on_reset()
        return {"reset": True, "reseeded": self.on_reset is not None}


# ---- HTTP ----------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: PlatformServer

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(error(400, "bad Content-Length"))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, self.path, headers, body, self.client_address[0])
        try:
            resp = self.server.app.handle(req)
        except Exception:  # noqa: BLE001 - answer 500, keep serving
            log.exception("platform endpoint %s %s failed", self.command, self.path)
            resp = error(500, "internal error in the lab's platform endpoints")
        self._send(resp)

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Cache-Control", "no-store")
        for key, value in resp.headers.items():
            self.send_header(key, value)
        if resp.status not in (204, 304):
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD" and resp.status not in (204, 304):
            self.wfile.write(resp.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("platform %s %s", self.address_string(), format % args)


class PlatformServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: PlatformApp, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app
        self._thread: threading.Thread | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        # Headers and body are two writes: without this, Nagle holds the body until the
        # client's delayed ACK, about 40 ms per response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    @property
    def admin_token(self) -> str:
        return self.app.admin_token

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_in_thread(self) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="platform-http",
            daemon=True,
        )
        self._thread.start()
        return self._thread

    def shutdown(self) -> None:
        if self._thread is not None:
            super().shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()


def make_platform_server(
    store: Any,
    state: LabState,
    cfg: LabConfig,
    info_provider: InfoProvider,
    on_reset: Callable[[], None] | None = None,
    *,
    cdn_resolver: CdnResolver | None = None,
    db_check: DbCheck | None = None,
    admin_token: str | None = None,
    port: int | None = None,
) -> PlatformServer:
    """The platform endpoints on 127.0.0.1:cfg.port("platform") (``port`` overrides, 0 = any)."""
    app = PlatformApp(
        store,
        state,
        cfg,
        info_provider,
        on_reset=on_reset,
        cdn_resolver=cdn_resolver,
        db_check=db_check,
        admin_token=admin_token,
    )
    return PlatformServer(app, cfg.port("platform") if port is None else port)
