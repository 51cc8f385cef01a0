"""The platform's /metrics (text format, values read from the lab's state), the synthetic
traffic behind its request series, Alertmanager's webhook receiver and ``irdrive lab alerts``.

Against the fake store of test_platform; promtool (when present) parses what /metrics renders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import require
from test_platform import Lab, pod

from irdrive_lab import alerts
from irdrive_lab.control.config import LabConfig
from irdrive_lab.monitoring.exposition import Family, RequestMetrics, format_value, render
from irdrive_lab.platform import metrics


def series(text: str) -> dict[str, float]:
    """``name{labels}`` -> value of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    lab = Lab(tmp_path)
    lab.info = {"partial": True}  # no synthetic traffic unless a test asks for it
    return lab


def scrape(lab: Lab) -> str:
    status, body, resp = lab.call("GET", "/metrics")
    assert status == 200
    assert resp.content_type.startswith("text/plain; version=0.0.4")
    return str(body.decode())


# ---- the text format ----------------------------------------------------------------------
def test_render_escapes_and_formats() -> None:
    fam = Family("x_total", "counter", "help with \\ and\nnewline")
    fam.add(3, {"path": 'a"b\\c\nd'})
    fam.add(0.25, {})
    gauge = Family("y", "gauge", "empty family")
    text = render([fam, gauge])
    assert text == (
        "# HELP x_total help with \\\\ and\\nnewline\n"
        "# TYPE x_total counter\n"
        'x_total{path="a\\"b\\\\c\\nd"} 3\n'
        "x_total 0.25\n"
        "# HELP y empty family\n"
        "# TYPE y gauge\n"
    )
    assert [format_value(v) for v in (1.0, 2, float("inf"), float("nan"), True)] == [
        "1",
        "2",
        "+Inf",
        "NaN",
        "1",
    ]
    with pytest.raises(ValueError, match="metric name"):
        Family("bad-name", "gauge", "")
    with pytest.raises(ValueError, match="label name"):
        Family("ok", "gauge", "").add(1, {"bad-label": "x"})


def test_request_histogram_is_cumulative() -> None:
    req = RequestMetrics(buckets=(0.1, 1.0))
    for seconds in (0.05, 0.5, 0.7, 3.0):
        req.observe("/health", 200, seconds)
    req.observe("/health", 503, 0.01)
    text = render(req.families("p"))
    got = series(text)
    assert got['p_http_requests_total{handler="/health",code="200"}'] == 4
    assert got['p_http_requests_total{handler="/health",code="503"}'] == 1
    assert got['p_http_request_duration_seconds_bucket{handler="/health",le="0.1"}'] == 2
    assert got['p_http_request_duration_seconds_bucket{handler="/health",le="1"}'] == 4
    assert got['p_http_request_duration_seconds_bucket{handler="/health",le="+Inf"}'] == 5
    assert got['p_http_request_duration_seconds_count{handler="/health"}'] == 5
    assert got['p_http_request_duration_seconds_sum{handler="/health"}'] == pytest.approx(4.26)


@pytest.mark.parametrize(
    ("path", "handler"),
    [
        ("/health", "/health"),
        ("/processors/ccbill/health", "/processors/{processor}/health"),
        ("/processors/ccbill/api/health", "/processors/{processor}/api/health"),
        ("/cdn/backup/test.mp4", "/cdn/{object}"),
        ("/_admin/cache/clear", "/_admin/{action}"),
        ("/wp-login.php", "other"),
        ("/health/../../etc", "other"),
    ],
)
def test_handler_labels_are_bounded(path: str, handler: str) -> None:
    assert metrics.handler_of(path) == handler


def test_metrics_pass_promtool(lab: Lab) -> None:
    for path in ("/health", "/payments/health", "/cdn/test.mp4", "/nope"):
        lab.call("GET", path)
    text = scrape(lab)
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    require(Path(promtool).exists(), "promtool (Debian's prometheus)")
    res = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0, res.stdout + res.stderr


# ---- values from the lab's state ----------------------------------------------------------
def test_served_requests_count_by_code_but_not_metrics_or_lab_calls(lab: Lab) -> None:
    lab.call("GET", "/payments/health")
    lab.state.processors_down.add("ccbill")
    lab.call("GET", "/payments/health")
    lab.call("GET", "/_lab/state")
    scrape(lab)
    got = series(scrape(lab))
    assert got['platform_http_requests_total{handler="/payments/health",code="200"}'] == 1
    assert got['platform_http_requests_total{handler="/payments/health",code="503"}'] == 1
    assert not [k for k in got if "/metrics" in k or "/_lab/" in k]


def test_processor_series_follow_the_fault_and_the_pods(lab: Lab) -> None:
    got = series(scrape(lab))
    assert got['platform_payment_processor_up{processor="ccbill"}'] == 1
    assert got['platform_payment_processor_in_use{processor="ccbill"}'] == 1
    assert got['platform_payment_processor_in_use{processor="segpay"}'] == 0
    status, _, _ = lab.call("POST", "/_lab/faults/processor-down", {})
    assert status == 200
    got = series(scrape(lab))
    assert got['platform_payment_processor_up{processor="ccbill"}'] == 0
    assert got['platform_payment_processor_up{processor="segpay"}'] == 1
    # a failover: the payment pods now run with segpay
    lab.store.put(
        "pods", pod("payment-service", "payment-service-a", env={"PRIMARY_PROCESSOR": "segpay"})
    )
    got = series(scrape(lab))
    assert got['platform_payment_processor_in_use{processor="segpay"}'] == 1
    assert got['platform_payment_processor_in_use{processor="ccbill"}'] == 0


def test_crash_looping_pods_and_their_restarts(lab: Lab) -> None:
    crashing = pod("backend", "backend-bad", ready=False)
    crashing["spec"] = {"containers": [{"name": "backend", "image": "b:1-bad"}]}
    crashing["status"]["containerStatuses"] = [
        {
            "name": "backend",
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        }
    ]
    lab.store.put("pods", crashing)
    got = series(scrape(lab))
    labels = 'deployment="backend",pod="backend-bad",container="backend"'
    assert got[f"platform_pod_container_restarts_total{{{labels}}}"] == 4
    assert got[f'platform_pod_container_waiting{{{labels},reason="CrashLoopBackOff"}}'] == 1
    assert got['platform_deployment_ready_pods{deployment="backend"}'] == 1


def test_video_storage_series(lab: Lab, tmp_path: Path) -> None:
    storage = tmp_path / "videos"
    storage.mkdir()
    lab.info = {"partial": True, "hosts": {"streaming": {"paths": {"video_storage": str(storage)}}}}
    lab.app._info._at = -1e9
    for i in range(3):
        (storage / f"t{i}.mp4.tmp").write_bytes(b"x")
    (storage / "kept.mp4").write_bytes(b"x")
    got = series(scrape(lab))
    assert got['platform_video_storage_tmp_files{host="streaming"}'] == 3


def test_database_down_or_unknown_reads_as_down(tmp_path: Path) -> None:
    text = render(metrics.database_families(None, lambda ip: False))
    assert series(text) == {"platform_database_up": 0}
    unreachable = {"socket_dir": str(tmp_path), "port": 1, "dbname": "platform"}
    text = render(metrics.database_families(unreachable, lambda ip: False))
    assert series(text) == {"platform_database_up": 0}


def test_suspicious_sources_name_the_addresses_the_waf_lets_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ipaddress

    rows = {
        "max_connections": 100,
        "activity": [],
        "failed_logins": [
            ("198.51.100.7", 12),  # suspicious, not blocked
            ("203.0.113.45", 40),  # suspicious, blocked by the /32
            ("203.0.113.9", 3),  # too few failures
            ("2001:db8::6", 10),  # suspicious, not blocked
        ],
    }
    monkeypatch.setattr(metrics, "_query_database", lambda pg: rows)
    blocked = metrics.blocked_by([ipaddress.ip_network("203.0.113.45/32")])
    got = series(render(metrics.database_families({"port": 5432}, blocked)))
    assert got['platform_suspicious_sources{waf_blocked="false"}'] == 2
    assert got['platform_suspicious_sources{waf_blocked="true"}'] == 1
    assert got['platform_failed_logins_recent{waf_blocked="false"}'] == 25
    info = {k: v for k, v in got.items() if k.startswith("platform_suspicious_source_info")}
    assert info == {
        'platform_suspicious_source_info{address="198.51.100.7"}': 1,
        'platform_suspicious_source_info{address="2001:db8::6"}': 1,
    }


def test_waf_blocking_matches_addresses_and_networks() -> None:
    import ipaddress

    blocked = metrics.blocked_by(
        [ipaddress.ip_network("203.0.113.45/32"), ipaddress.ip_network("198.51.100.0/24")]
    )
    assert blocked("203.0.113.45") and blocked("198.51.100.23")
    assert not blocked("203.0.113.46") and not blocked("2001:db8::1")


def test_a_failing_collector_is_reported_not_fatal(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> list[Family]:
        raise RuntimeError("store gone")

    monkeypatch.setattr(metrics, "kube_families", broken)
    got = series(scrape(lab))
    assert got['platform_metrics_collector_success{collector="kubernetes"}'] == 0
    assert got['platform_metrics_collector_success{collector="payments"}'] == 1


# ---- synthetic traffic ---------------------------------------------------------------------
def test_synthetic_traffic_runs_while_poked_and_stops_when_not() -> None:
    sent: list[str] = []
    traffic = metrics.SyntheticTraffic(sent.append, ("/a", "/b"), period=0.02, idle_stop=0.15)
    traffic.poke()
    deadline = time.monotonic() + 5
    while traffic.rounds < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert traffic.rounds >= 3 and sent[:4] == ["/a", "/b", "/a", "/b"]
    time.sleep(0.4)  # no poke: the rounds stop
    stopped_at = traffic.rounds
    time.sleep(0.1)
    assert traffic.rounds == stopped_at
    traffic.poke()  # and start again
    deadline = time.monotonic() + 5
    while traffic.rounds == stopped_at and time.monotonic() < deadline:
        time.sleep(0.01)
    assert traffic.rounds > stopped_at


def test_scrapes_start_traffic_only_once_the_lab_is_up(lab: Lab) -> None:
    scrape(lab)
    assert lab.app.metrics.traffic.rounds == 0
    lab.info = {"partial": False}
    lab.app._info._at = -1e9
    scrape(lab)
    deadline = time.monotonic() + 5
    while lab.app.metrics.traffic.rounds < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    got = series(scrape(lab))
    assert got['platform_http_requests_total{handler="/payments/health",code="200"}'] >= 1


# ---- the webhook receiver ------------------------------------------------------------------
NOTIFICATION = {
    "version": "4",
    "status": "firing",
    "receiver": "lab",
    "groupKey": '{}:{alertname="DatabaseDown"}',
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DatabaseDown", "fault": "db-down", "severity": "P0"},
            "annotations": {"summary": "down"},
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "abc",
        }
    ],
}


def test_webhook_records_notifications(lab: Lab) -> None:
    status, body, _ = lab.call("POST", "/_lab/alerts", NOTIFICATION)
    assert (status, body) == (200, {"recorded": 1})
    status, _, _ = lab.call("POST", "/_lab/alerts", NOTIFICATION, client="10.0.0.9")
    assert status == 403
    status, _, _ = lab.call("POST", "/_lab/alerts", {"status": "firing"})
    assert status == 400
    status, _, _ = lab.call("GET", "/_lab/alerts")
    assert status == 405
    recorded = alerts.notifications(lab.cfg.alerts_file)
    assert len(recorded) == 1
    assert recorded[0]["alerts"][0]["labels"]["fault"] == "db-down"
    assert recorded[0]["status"] == "firing"


# ---- irdrive lab alerts --------------------------------------------------------------------
FIRING = [
    {
        "labels": {
            "alertname": "DatabaseDown",
            "fault": "db-down",
            "severity": "P0",
            "runbook": "platform-outage",
        },
        "annotations": {"summary": "The platform's database does not accept connections"},
        "startsAt": "2026-01-01T00:00:01Z",
        "fingerprint": "f1",
        "status": {"state": "active"},
    },
    {
        "labels": {
            "alertname": "CdnErrors",
            "fault": "cdn-down",
            "severity": "P1",
            "runbook": "streaming-outage",
        },
        "annotations": {"summary": "The CDN answers errors"},
        "startsAt": "2026-01-01T00:00:00Z",
        "fingerprint": "f2",
        "status": {"state": "active"},
    },
]


@pytest.fixture
def alertmanager() -> Iterator[tuple[str, list[str]]]:
    """A stand-in for Alertmanager's v2 API: answers FIRING, records the queries."""
    queries: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            queries.append(self.path)
            body = json.dumps(FIRING).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", queries
    finally:
        server.shutdown()
        server.server_close()


def _lab_dir(tmp_path: Path, url: str) -> Path:
    cfg = LabConfig(dir=tmp_path / "lab", port_base=20000)
    cfg.ensure_dirs()
    cfg.write_state({"dir": str(cfg.dir), "alertmanager_url": url})
    return cfg.dir


def _irdrive(*args: str) -> Any:
    from irdrive.cli import cli

    env = {k: v for k, v in os.environ.items() if not k.startswith("IRDRIVE_LAB")}
    return CliRunner().invoke(cli, list(args), env=env)


def test_active_alerts_asks_for_active_unsilenced_uninhibited(
    alertmanager: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, queries = alertmanager
    lab_dir = _lab_dir(tmp_path, url)
    got = alerts.active_alerts(lab_dir)
    assert [a["fingerprint"] for a in got] == ["f2", "f1"]  # oldest first
    assert queries == ["/api/v2/alerts?active=true&silenced=false&inhibited=false"]
    assert [a["fingerprint"] for a in alerts.active_alerts(str(lab_dir), "db-down")] == ["f1"]


def test_lab_alerts_command(alertmanager: tuple[str, list[str]], tmp_path: Path) -> None:
    url, _ = alertmanager
    lab_dir = str(_lab_dir(tmp_path, url))
    res = _irdrive("lab", "--lab-dir", lab_dir, "--port-base", "20000", "alerts")
    assert res.exit_code == 0, res.output
    assert "2 alert(s) firing" in res.output
    assert "P0  DatabaseDown" in res.output and "runbook=platform-outage" in res.output
    res = _irdrive("lab", "--lab-dir", lab_dir, "alerts", "--json", "--fault", "cdn-down")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["alertmanager_url"] == url
    assert [(a["alertname"], a["severity"], a["runbook"]) for a in doc["alerts"]] == [
        ("CdnErrors", "P1", "streaming-outage")
    ]
    assert doc["alerts"][0]["labels"]["fault"] == "cdn-down"


def test_lab_alerts_says_so_when_alertmanager_is_unreachable(tmp_path: Path) -> None:
    from irdrive_lab.control.proc import port_in_use

    port = next(p for p in range(20995, 20900, -1) if not port_in_use(p))
    lab_dir = str(_lab_dir(tmp_path, f"http://127.0.0.1:{port}"))
    res = _irdrive("lab", "--lab-dir", lab_dir, "alerts")
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"Alertmanager at http://127.0.0.1:{port} is unreachable" in lines[0]
    res = _irdrive("lab", "--lab-dir", str(tmp_path / "none"), "alerts")
    assert res.exit_code == 2 and "is not up" in res.output


def test_a_rewritten_lab_json_is_read_at_once(lab: Lab) -> None:
    """After a reset rewrites lab.json (moto's new ids), no answer comes from the old one."""
    lab.info = {"partial": False, "generation": 1}
    lab.cfg.write_state(lab.info)
    assert lab.app.info() == {"partial": False, "generation": 1}
    lab.call("GET", "/cdn/test.mp4")
    calls = lab.cdn_calls
    lab.info = {"partial": False, "generation": 2}
    assert lab.app.info()["generation"] == 1  # within the TTL: the same file is not re-read
    lab.cfg.write_state(lab.info)
    assert lab.app.info()["generation"] == 2
    lab.call("GET", "/cdn/test.mp4")
    assert lab.cdn_calls == calls + 1  # the CDN target is resolved again, not served cached
