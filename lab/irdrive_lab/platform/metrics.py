"""The platform's ``/metrics``: the series the playbook's symptoms describe, read from the lab.

Every value is read when Prometheus scrapes, from the same state the platform's answers come
from: the processors' reachability and the processor the running payment pods use, the pods
in the lab's Kubernetes store (restarts, CrashLoopBackOff, CPU against limits), a real
connection to the lab's PostgreSQL (``pg_stat_activity``, failed logins in ``auth_logs``),
the addresses the WAF's IP set blocks (the lab's moto), the streaming host's video storage.
Payment errors, CDN errors and response times come from requests the platform served:
``SyntheticTraffic`` sends a round of requests (a user's journeys) through the app every
second while Prometheus scrapes, and stops when the scrapes stop.

A collector that fails leaves its series out and says so in
``platform_metrics_collector_success{collector}``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.state import LabState
from irdrive_lab.monitoring.exposition import Family, RequestMetrics, render
from irdrive_lab.platform.cluster import NAMESPACE, pod_is_ready
from irdrive_lab.platform.probes import PROCESSORS, payments_health
from irdrive_lab.platform.streaming import video_storage_usage
from irdrive_lab.platform.util import InfoProvider, dig

log = logging.getLogger(__name__)

PREFIX = "platform"
# What one round of synthetic traffic asks for: the journeys of a user of the platform.
JOURNEYS = ("/health", "/payments/health", "/streaming/health", "/cdn/test.mp4")
TRAFFIC_PERIOD = 1.0  # seconds between rounds
TRAFFIC_IDLE_STOP = 15.0  # stop the rounds this long after the last scrape
FAILED_LOGIN_WINDOW = "15 minutes"
SUSPICIOUS_MIN_FAILURES = 10  # failed logins in the window that make a source suspicious
DEPLOYMENT_LABEL = "app"
# Session states always reported (0 when none), so their series exist.
SESSION_STATES = ("active", "idle", "idle in transaction")

KNOWN_HANDLERS = frozenset(
    ("/", "/health", "/payments/health", "/streaming/health", "/origin/test.mp4", "/metrics")
)


def handler_of(path: str) -> str:
    """The ``handler`` label of a request path: bounded, whatever paths clients send."""
    if path in KNOWN_HANDLERS:
        return path
    if path.startswith("/processors/") and path.endswith("/api/health"):
        return "/processors/{processor}/api/health"
    if path.startswith("/processors/") and path.endswith("/health"):
        return "/processors/{processor}/health"
    if path.startswith("/cdn/"):
        return "/cdn/{object}"
    if path.startswith("/_admin/"):
        return "/_admin/{action}"
    if path.startswith("/_lab/"):
        return "/_lab/{action}"
    return "other"


class SyntheticTraffic:
    """Rounds of requests through ``send`` every ``period`` s, while someone keeps poking."""

    def __init__(
        self,
        send: Callable[[str], Any],
        journeys: tuple[str, ...] = JOURNEYS,
        period: float = TRAFFIC_PERIOD,
        idle_stop: float = TRAFFIC_IDLE_STOP,
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        self._send, self.journeys, self._active = send, journeys, active
        self.period, self.idle_stop = period, idle_stop
        self._lock = threading.Lock()
        self._last_poke = 0.0
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def poke(self) -> None:
        """Keep the rounds going (a scrape); start them if they had stopped."""
        with self._lock:
            self._last_poke = time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="synthetic-traffic", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            started = time.monotonic()
            with self._lock:
                if started - self._last_poke > self.idle_stop:
                    self._thread = None
                    return
            if not self._active():  # the lab is starting or resetting: no users yet
                time.sleep(self.period)
                continue
            for path in self.journeys:
                try:
                    self._send(path)
                except Exception:  # noqa: BLE001 - the app answers errors; keep the rounds going
                    log.exception("synthetic request %s failed", path)
            self.rounds += 1
            time.sleep(max(0.0, self.period - (time.monotonic() - started)))


def _gauge(name: str, help_text: str) -> Family:
    return Family(f"{PREFIX}_{name}", "gauge", help_text)


def payments_families(store: Any, state: LabState) -> list[Family]:
    up = _gauge("payment_processor_up", "1 when the payment processor answers its health check.")
    in_use = _gauge(
        "payment_processor_in_use", "1 for the processor the running payment-service pods use."
    )
    with state.lock:
        down = set(state.processors_down)
    body = json.loads(payments_health(store, state).body or b"{}")
    for name in PROCESSORS:
        up.add(0 if name in down else 1, {"processor": name})
        in_use.add(1 if body.get("processor") == name else 0, {"processor": name})
    return [up, in_use]


def kube_families(store: Any, state: LabState, now: float | None = None) -> list[Family]:
    from irdrive_lab.kube.sim.metrics import _resources, container_usage

    now = time.time() if now is None else now
    restarts = Family(
        f"{PREFIX}_pod_container_restarts_total",
        "counter",
        "Container restarts of the platform's pods (the pod's restartCount).",
    )
    waiting = _gauge("pod_container_waiting", "1 while a container waits, by reason.")
    ready = _gauge("deployment_ready_pods", "Ready pods of each deployment.")
    cpu = _gauge("deployment_cpu_usage_ratio", "CPU used by a deployment's pods over their limits.")
    pressure = state.pressure_effective()
    pods, _ = store.list("pods", NAMESPACE)
    per_deployment: dict[str, list[float]] = {}
    for pod in pods:
        deployment = str((dig(pod, "metadata", "labels") or {}).get(DEPLOYMENT_LABEL) or "")
        if not deployment:
            continue
        name = str(dig(pod, "metadata", "name"))
        totals = per_deployment.setdefault(deployment, [0.0, 0.0, 0.0])
        totals[0] += 1 if pod_is_ready(pod) else 0
        for status in dig(pod, "status", "containerStatuses") or []:
            labels = {"deployment": deployment, "pod": name, "container": str(status.get("name"))}
            restarts.add(int(status.get("restartCount") or 0), labels)
            reason = dig(status, "state", "waiting", "reason")
            if reason:
                waiting.add(1, {**labels, "reason": str(reason)})
        running = {
            s.get("name")
            for s in dig(pod, "status", "containerStatuses") or []
            if dig(s, "state", "running") is not None
        }
        for container in dig(pod, "spec", "containers") or []:
            if dig(pod, "status", "phase") != "Running" or container.get("name") not in running:
                continue
            used, _mem = container_usage(pod, container, now, pressure)
            cpu_req, _m, cpu_lim, _ml = _resources(container)
            totals[1] += used
            totals[2] += cpu_lim or cpu_req
    for deployment, (n_ready, used, limit) in sorted(per_deployment.items()):
        ready.add(n_ready, {"deployment": deployment})
        if limit:
            cpu.add(round(used / limit, 4), {"deployment": deployment})
    return [restarts, waiting, ready, cpu]


def storage_families(cfg: LabConfig, info: Mapping[str, Any] | None) -> list[Family]:
    tmp_files = _gauge("video_storage_tmp_files", "*.tmp files below the video storage.")
    used = _gauge(
        "host_filesystem_used_ratio", "Used fraction of a host filesystem (its own mount only)."
    )
    usage = video_storage_usage(cfg, info)
    if usage is not None:
        tmp_files.add(usage["tmp_files"], {"host": "streaming"})
        if usage["used_ratio"] is not None:
            used.add(usage["used_ratio"], {"host": "streaming", "path": "video_storage"})
    return [tmp_files, used]


def database_families(pg: Mapping[str, Any] | None, blocked: Callable[[str], bool]) -> list[Family]:
    """One real connection to the lab's PostgreSQL (the superuser over its unix socket)."""
    up = _gauge("database_up", "1 when the platform's PostgreSQL accepts a connection.")
    conns = _gauge("database_connections", "Client sessions by state (pg_stat_activity).")
    oldest = _gauge(
        "database_oldest_transaction_seconds", "Age of the oldest open transaction, by state."
    )
    max_conns = _gauge("database_max_connections", "The server's max_connections.")
    failed = _gauge(
        "failed_logins_recent",
        f"Failed logins in auth_logs in the last {FAILED_LOGIN_WINDOW}, by WAF blocking.",
    )
    suspicious = _gauge(
        "suspicious_sources",
        f"Addresses with {SUSPICIOUS_MIN_FAILURES}+ failed logins in the last "
        f"{FAILED_LOGIN_WINDOW}, by whether the WAF blocks them.",
    )
    # One series an address the WAF lets through: the alert's annotation lists them.
    unblocked = _gauge(
        "suspicious_source_info",
        "1 for each suspicious address (as platform_suspicious_sources counts them) the WAF "
        "does not block.",
    )
    families = [up, conns, oldest, max_conns, failed, suspicious, unblocked]
    if not pg or not pg.get("port"):
        up.add(0)
        return families
    try:
        rows = _query_database(pg)
    except Exception as exc:  # noqa: BLE001 - psycopg2's errors: the database is not serving
        log.debug("database metrics: %s", exc)
        up.add(0)
        return families
    up.add(1)
    max_conns.add(rows["max_connections"])
    activity = {state: (0, 0.0) for state in SESSION_STATES}
    activity.update({state: (count, age) for state, count, age in rows["activity"]})
    for state, (count, age) in sorted(activity.items()):
        conns.add(count, {"state": state})
        oldest.add(round(age, 3), {"state": state})
    counts = {"true": [0, 0], "false": [0, 0]}
    for ip, n in rows["failed_logins"]:
        key = "true" if blocked(ip) else "false"
        counts[key][0] += n
        counts[key][1] += 1 if n >= SUSPICIOUS_MIN_FAILURES else 0
        if key == "false" and n >= SUSPICIOUS_MIN_FAILURES:
            unblocked.add(1, {"address": str(ip)})
    for key, (n_failed, n_sources) in counts.items():
        failed.add(n_failed, {"waf_blocked": key})
        suspicious.add(n_sources, {"waf_blocked": key})
    return families


def _query_database(pg: Mapping[str, Any]) -> dict[str, Any]:
    import psycopg2

    from irdrive_lab.pg.cluster import DATABASE, LAB_APPNAME, OS_USER

    conn = psycopg2.connect(
        host=pg.get("socket_dir"),
        port=int(pg["port"]),
        user=OS_USER,
        dbname=pg.get("dbname") or DATABASE,
        connect_timeout=1,
        application_name=LAB_APPNAME,
        options="-c statement_timeout=800 -c log_statement=none",
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SHOW max_connections")
            (max_connections,) = cur.fetchone()
            cur.execute(
                "SELECT coalesce(state, 'unknown'), count(*), "
                "coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float "
                "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1"
            )
            activity = cur.fetchall()
            cur.execute(
                "SELECT host(ip), count(*) FROM auth_logs WHERE event <> 'login_success' "
                f"AND created_at > now() - interval '{FAILED_LOGIN_WINDOW}' GROUP BY 1 ORDER BY 1"
            )
            failed_logins = cur.fetchall()
    finally:
        conn.close()
    return {
        "max_connections": int(max_connections),
        "activity": activity,
        "failed_logins": failed_logins,
    }


class WafBlocklist:
    """Whether the WAF's IP set (in the lab's moto) blocks an address; read once per scrape."""

    def __init__(self, info: InfoProvider) -> None:
        self._info = info
        self._client: Any = None

    def networks(self) -> list[Any]:
        import ipaddress

        aws = dig(self._info(), "aws") or {}
        ip_set = dig(aws, "resources", "waf_ip_set") or {}
        if not aws.get("endpoint") or not ip_set.get("id"):
            return []
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "wafv2",
                endpoint_url=aws["endpoint"],
                region_name=aws.get("region") or "us-east-1",
                aws_access_key_id=aws.get("access_key_id") or "testing",
                aws_secret_access_key=aws.get("secret_access_key") or "testing",
                config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
            )
        found = self._client.get_ip_set(
            Name=ip_set["name"], Scope=ip_set.get("scope") or "REGIONAL", Id=ip_set["id"]
        )
        return [ipaddress.ip_network(a, strict=False) for a in found["IPSet"]["Addresses"]]


def blocked_by(networks: list[Any]) -> Callable[[str], bool]:
    import ipaddress

    def blocked(ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr.version == net.version and addr in net for net in networks)

    return blocked


class PlatformMetrics:
    """Renders ``/metrics`` for the app: requests it served plus the collectors above."""

    def __init__(
        self, store: Any, state: LabState, cfg: LabConfig, info: InfoProvider, send: Any
    ) -> None:
        self.store, self.state, self.cfg, self._info = store, state, cfg, info
        self.requests = RequestMetrics()
        self.traffic = SyntheticTraffic(send, active=self._lab_serving)
        self.waf = WafBlocklist(info)

    def _lab_serving(self) -> bool:
        """The lab is up (lab.json complete) and not resetting: its users may come."""
        info = self._info()
        return info is not None and not info.get("partial") and not info.get("resetting")

    def observe(self, path: str, code: int, seconds: float) -> None:
        self.requests.observe(handler_of(path), code, seconds)

    def render(self) -> str:
        info = self._info()
        if self._lab_serving():  # no traffic while the lab starts or resets
            self.traffic.poke()
        success = _gauge("metrics_collector_success", "1 when a collector read its source.")
        families: list[Family] = [*self.requests.families(PREFIX)]

        def collect(name: str, fn: Callable[[], list[Family]]) -> None:
            try:
                families.extend(fn())
                success.add(1, {"collector": name})
            except Exception as exc:  # noqa: BLE001 - one failed source never hides the rest
                log.warning("metrics collector %s failed: %s", name, exc)
                success.add(0, {"collector": name})

        networks: list[Any] = []

        def waf() -> list[Family]:
            networks.extend(self.waf.networks())
            return []

        collect("payments", lambda: payments_families(self.store, self.state))
        collect("kubernetes", lambda: kube_families(self.store, self.state))
        collect("storage", lambda: storage_families(self.cfg, info))
        if self._lab_serving():  # the database and moto may still be starting or reseeding
            collect("waf", waf)
            collect(
                "database",
                lambda: database_families(dig(info, "postgres"), blocked_by(networks)),
            )
        families.append(success)
        return render(families)
