"""Where a lab lives and which ports it uses.

A lab is one folder. Everything a lab starts or writes is below it, so two labs run side by
side when they have different folders and port bases. The folder holds ``lab.json`` once the
lab is up: the endpoints, credentials of the lab's fake accounts, the hosts and the PIDs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PORT_BASE = 17600
ENV_LAB_DIR = "IRDRIVE_LAB_DIR"
ENV_PORT_BASE = "IRDRIVE_LAB_PORT_BASE"
ENV_PG_BINDIR = "IRDRIVE_PG_BINDIR"
DEFAULT_PG_BINDIR = "/usr/lib/postgresql/15/bin"

# Offsets from the port base; one lab uses the range [base, base + PORT_SPAN).
PORT_OFFSETS = {
    "kubernetes": 0,  # HTTPS Kubernetes API (labd)
    "aws": 1,  # moto server behind the journal
    "platform": 2,  # platform HTTP endpoints (labd)
    "postgres": 3,  # reserved: PostgreSQL listens on the db host's address, port 5432
    "prometheus": 4,  # Prometheus: scrapes the platform's /metrics, evaluates the alert rules
    "alertmanager": 5,  # Alertmanager: routes the alerts to the platform's webhook receiver
}
PORT_SPAN = 10

HOST_NAMES = ("web", "db", "streaming")
# `irdrive lab up --web-hosts N`: N web hosts, web and web-2 .. web-N. Each host takes a /30 of
# the lab's /24 (64 of them), so 2 + MAX_WEB_HOSTS hosts fit with room to spare.
MAX_WEB_HOSTS = 60


def host_names(web_hosts: int = 1) -> list[str]:
    """The lab's hosts with ``web_hosts`` web hosts: web, db, streaming, then web-2 .. web-N.

    The first three keep their place (and so their addresses) whatever N is.
    """
    if not 1 <= web_hosts <= MAX_WEB_HOSTS:
        raise ValueError(f"web hosts must be 1..{MAX_WEB_HOSTS}, not {web_hosts}")
    return [*HOST_NAMES, *(f"web-{k}" for k in range(2, web_hosts + 1))]


def host_kind(host: str) -> str:
    """What a host is (web, db or streaming): web-2 .. web-N are web hosts like web."""
    return "web" if host.startswith("web-") else host


def default_lab_dir() -> Path:
    env = os.environ.get(ENV_LAB_DIR)
    if env:
        return Path(env).expanduser().resolve()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return (Path(state) / "irdrive" / "lab").resolve()


def default_port_base() -> int:
    env = os.environ.get(ENV_PORT_BASE)
    if env:
        try:
            base = int(env)
        except ValueError as exc:
            raise ValueError(f"{ENV_PORT_BASE} must be a port number, not {env!r}") from exc
        if not 1024 <= base <= 65535 - PORT_SPAN:
            raise ValueError(f"{ENV_PORT_BASE}={base} is outside 1024..{65535 - PORT_SPAN}")
        return base
    return DEFAULT_PORT_BASE


@dataclass(frozen=True)
class LabConfig:
    """The static shape of one lab: its folder, its ports and its names."""

    dir: Path = field(default_factory=default_lab_dir)
    port_base: int = field(default_factory=default_port_base)
    # Seconds a pod takes from creation to Ready in the simulated cluster.
    pod_ready_delay: float = 0.5

    def __post_init__(self) -> None:
        if not 1024 <= self.port_base <= 65535 - PORT_SPAN:
            raise ValueError(f"port base {self.port_base} is outside 1024..{65535 - PORT_SPAN}")

    # ---- identity -----------------------------------------------------------------------
    @property
    def lab_id(self) -> str:
        """Short stable id of this lab, used in network namespace and interface names."""
        return hashlib.sha256(str(self.dir).encode()).hexdigest()[:6]

    @property
    def subnet_index(self) -> int:
        """Third octet of this lab's host links (10.213.<n>.x).

        Derived from the port base, which two labs running side by side must not share, so
        their subnets differ too (unless their bases differ by a multiple of 2000).
        """
        return (self.port_base // PORT_SPAN) % 200 + 20

    @property
    def pg_bindir(self) -> Path:
        """Where the PostgreSQL server binaries are (IRDRIVE_PG_BINDIR overrides)."""
        return Path(os.environ.get(ENV_PG_BINDIR) or DEFAULT_PG_BINDIR)

    # ---- ports --------------------------------------------------------------------------
    def port(self, name: str) -> int:
        return self.port_base + PORT_OFFSETS[name]

    # ---- paths --------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.dir / "lab.json"

    @property
    def journal_file(self) -> Path:
        return self.dir / "journal.jsonl"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def pki_dir(self) -> Path:
        return self.dir / "pki"

    @property
    def hosts_dir(self) -> Path:
        return self.dir / "hosts"

    def host_root(self, host: str) -> Path:
        return self.hosts_dir / host

    @property
    def faults_file(self) -> Path:
        return self.dir / "faults.json"

    @property
    def monitoring_dir(self) -> Path:
        """Prometheus' and Alertmanager's configuration and data."""
        return self.dir / "monitoring"

    @property
    def alerts_file(self) -> Path:
        """The notifications Alertmanager sent to the lab's webhook receiver, one per line."""
        return self.dir / "alerts.jsonl"

    def ensure_dirs(self) -> None:
        for d in (self.dir, self.logs_dir, self.run_dir, self.pki_dir, self.hosts_dir):
            d.mkdir(parents=True, exist_ok=True)

    # ---- lab.json -----------------------------------------------------------------------
    def read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:  # one line naming the file, not a decoder's position alone
            raise ValueError(
                f"the lab's state file {self.state_file} is not valid JSON ({exc}); "
                "move the lab folder away and run `irdrive lab up`"
            ) from exc

    def write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.chmod(tmp, 0o600)
        tmp.replace(self.state_file)
