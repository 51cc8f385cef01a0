"""Prometheus and Alertmanager as a lab part (the component interface of docs/lab-design.md).

Both run as real processes on 127.0.0.1 (Prometheus on base + 4, Alertmanager on base + 5),
with their configuration and data in ``<lab>/monitoring`` and their logs in the lab's logs
folder. Prometheus scrapes the platform's ``/metrics`` and evaluates ``rules.yml`` every
second; Alertmanager sends each alert group to the platform's webhook receiver
(``POST /_lab/alerts``) and its resolution, and to any further webhook URLs given to
``irdrive lab up --alert-webhook`` or in ``IRDRIVE_LAB_ALERT_WEBHOOKS`` (an event source of
ansible-rulebook, say). Alertmanager's cluster listener is off, so labs
run side by side. ``start`` only spawns both; ``wait_ready`` polls their ``/-/ready``.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

from irdrive_lab.control import proc
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabError, LabUsageError

ENV_PROMETHEUS = "IRDRIVE_PROMETHEUS"
ENV_ALERTMANAGER = "IRDRIVE_ALERTMANAGER"
ENV_ALERT_WEBHOOKS = "IRDRIVE_LAB_ALERT_WEBHOOKS"  # further receivers, comma or space separated
BINARIES = {
    # part: (environment override, Debian's path, Debian package)
    "prometheus": (ENV_PROMETHEUS, "/usr/bin/prometheus", "prometheus"),
    "alertmanager": (
        ENV_ALERTMANAGER,
        "/usr/bin/prometheus-alertmanager",
        "prometheus-alertmanager",
    ),
}
INTERVAL = "1s"  # scrape and rule evaluation
RESOLVE_TIMEOUT = "5s"
RULES_FILE = "rules.yml"


def binary(name: str) -> Path:
    env, default, _package = BINARIES[name]
    return Path(os.environ.get(env) or default)


def check_binaries() -> None:
    """One line naming the Debian packages to install when a binary is missing."""
    missing = [n for n in BINARIES if not os.access(binary(n), os.X_OK)]
    if missing:
        packages = " ".join(BINARIES[n][2] for n in missing)
        raise LabUsageError(
            f"missing {', '.join(str(binary(n)) for n in missing)}; install the Debian "
            f"package(s) {packages} (scripts/system-deps does)"
        )


def rules_text() -> str:
    return importlib_resources.files("irdrive_lab.monitoring").joinpath(RULES_FILE).read_text()


def prometheus_config(cfg: LabConfig) -> str:
    return f"""\
# Written by `irdrive lab up`.
global:
  scrape_interval: {INTERVAL}
  scrape_timeout: {INTERVAL}
  evaluation_interval: {INTERVAL}
  external_labels:
    lab: "{cfg.lab_id}"
rule_files:
  - {RULES_FILE}
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{cfg.port("alertmanager")}"]
scrape_configs:
  - job_name: platform
    static_configs:
      - targets: ["127.0.0.1:{cfg.port("platform")}"]
"""


def alert_webhooks(given: Any = None) -> list[str]:
    """The further webhook URLs Alertmanager posts to: ``given``, else the environment's."""
    if given is None:
        given = os.environ.get(ENV_ALERT_WEBHOOKS, "").replace(",", " ").split()
    urls = [str(url) for url in given]
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or '"' in url:
            raise LabUsageError(f"alert webhook {url!r} is not an http(s) URL")
    return urls


def alertmanager_config(cfg: LabConfig, webhooks: list[str] | None = None) -> str:
    """Every alert group goes to the lab's receiver and, beside it, to each of ``webhooks``."""
    extra = "".join(
        f"""\
      - url: "{url}"
        send_resolved: true
        max_alerts: 0
"""
        for url in webhooks or []
    )
    return f"""\
# Written by `irdrive lab up`.
global:
  resolve_timeout: {RESOLVE_TIMEOUT}
route:
  receiver: lab
  group_by: [alertname, fault]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: lab
    webhook_configs:
      - url: "http://127.0.0.1:{cfg.port("platform")}/_lab/alerts"
        send_resolved: true
        max_alerts: 0
{extra}"""


def urls(cfg: LabConfig) -> dict[str, str]:
    return {
        "prometheus": f"http://127.0.0.1:{cfg.port('prometheus')}",
        "alertmanager": f"http://127.0.0.1:{cfg.port('alertmanager')}",
    }


def write_configs(cfg: LabConfig, webhooks: list[str] | None = None) -> Path:
    root = cfg.monitoring_dir
    for sub in ("prometheus-data", "alertmanager-data"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "prometheus.yml").write_text(prometheus_config(cfg))
    (root / RULES_FILE).write_text(rules_text())
    (root / "alertmanager.yml").write_text(alertmanager_config(cfg, webhooks))
    return root


# ---- component interface -------------------------------------------------------------------
def start(cfg: LabConfig, ctx: dict[str, Any]) -> dict[str, Any]:
    check_binaries()
    for name in BINARIES:
        if proc.port_in_use(cfg.port(name)):
            raise LabError(f"{name} port {cfg.port(name)} on 127.0.0.1 is already in use")
    webhooks = alert_webhooks(ctx.get("alert_webhooks"))
    root = write_configs(cfg, webhooks)
    prometheus = proc.spawn(
        "prometheus",
        [
            str(binary("prometheus")),
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'prometheus-data'}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address=127.0.0.1:{cfg.port('prometheus')}",
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
        ],
        cfg.logs_dir,
        cwd=root,
    )
    alertmanager = proc.spawn(
        "alertmanager",
        [
            str(binary("alertmanager")),
            f"--config.file={root / 'alertmanager.yml'}",
            f"--storage.path={root / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{cfg.port('alertmanager')}",
            "--cluster.listen-address=",
            "--data.retention=24h",
            "--log.level=warn",
        ],
        cfg.logs_dir,
        cwd=root,
    )
    return {**urls(cfg), "alert_webhooks": webhooks, "procs": [prometheus, alertmanager]}


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def health(cfg: LabConfig, info: dict[str, Any]) -> tuple[bool, str]:
    for record in info.get("procs", []):
        if not proc.is_alive(record):
            return False, f"{record['name']} is not running; see {record['log']}"
    for name in BINARIES:
        if not _ready(info[name]):
            return False, f"{name} at {info[name]} is not ready"
    return True, f"Prometheus {info['prometheus']}, Alertmanager {info['alertmanager']}"


def wait_ready(cfg: LabConfig, info: dict[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(BINARIES)
    while pending:
        for record in info.get("procs", []):
            if not proc.is_alive(record):
                tail = _last_line(Path(record["log"]))
                raise LabError(f"{record['name']} exited during start: {tail}")
        pending = [name for name in pending if not _ready(info[name])]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{', '.join(pending)} did not become ready within {timeout:.0f}s")
        time.sleep(0.05)


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "no log"
    return lines[-1] if lines else "empty log"


def stop(cfg: LabConfig, info: dict[str, Any]) -> None:
    for record in info.get("procs", []):
        proc.stop(record)


def reseed(cfg: LabConfig, info: dict[str, Any]) -> None:
    """Nothing to reseed: alerts resolve by themselves once reset has cleared the faults."""


def destroy(cfg: LabConfig) -> None:
    """Delete Prometheus' and Alertmanager's data (``irdrive lab down --purge``)."""
    shutil.rmtree(cfg.monitoring_dir, ignore_errors=True)
    cfg.alerts_file.unlink(missing_ok=True)
