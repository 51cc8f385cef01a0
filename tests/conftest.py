"""Shared fixtures: the one lab the integration tests run against.

``make test`` sets IRDRIVE_TEST_LAB_DIR and IRDRIVE_TEST_PORT_BASE; the lab is started once per
session (if a test asks for it) and stopped at the end.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import require

REPO = Path(__file__).resolve().parents[1]

# As in an activated venv: the tools this interpreter's environment installed (ansible-galaxy,
# which ansible-rulebook looks up on PATH; ansible-playbook; molecule) come first on PATH, also
# when make runs .venv/bin/pytest from a shell whose PATH does not have them (CI).
_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = os.pathsep.join([_BIN, os.environ.get("PATH", "")])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "prerequisite(condition, missing): helpers.requires, checked at setup"
    )


# The test files that take longest (make test prints the slowest tests; this list follows
# them). The workers take whole files in collection order, so these go first and the many short
# files fill in at the end, instead of one long file running alone on one core at the end.
LONGEST_FIRST = (
    "test_drills.py",
    "test_drills_chaos.py",
    "test_awx_project.py",
    "test_eda_e2e.py",
    "test_bad_inputs.py",
    "test_security_breach.py",
    "test_cdn_streaming.py",
    "test_composite_runbooks.py",
    "test_block_ips.py",
    "test_rotate_secrets.py",
    "test_deadlines.py",
    "test_db_cache_diagnose.py",
    "test_lab_fleet.py",
    "test_payments_failover.py",
    "test_rollback_scale.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> tuple[int, int]:
        name = item.path.name
        if name in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(name)
        return (1 if "integration" in item.path.parts else 2), 0

    items.sort(key=rank)  # stable: the order within a file is kept


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("prerequisite"):
        require(*mark.args)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def lab_cfg(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from irdrive_lab.control.config import LabConfig

    lab_dir = os.environ.get("IRDRIVE_TEST_LAB_DIR") or str(tmp_path_factory.mktemp("lab"))
    port_base = int(os.environ.get("IRDRIVE_TEST_PORT_BASE", "17800"))
    # Under pytest-xdist each worker runs its own lab: its own folder and port range.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        lab_dir = f"{lab_dir}-{worker}"
        port_base += 100 * int(worker[2:])
    return LabConfig(dir=Path(lab_dir).resolve(), port_base=port_base, pod_ready_delay=0.3)


@pytest.fixture(scope="session")
def lab(lab_cfg: Any) -> Any:
    """The running lab's lab.json; started for the session, stopped at its end."""
    from irdrive_lab.control import manager

    state = manager.up(lab_cfg)
    try:
        yield state
    finally:
        manager.down(lab_cfg, purge=True)  # a test lab is never reused: no cluster left behind


@pytest.fixture
def pg_database(lab: dict[str, Any]) -> Any:
    """A new, empty database in the lab's PostgreSQL, owned by its responder role, as a team
    would share one for the history store: (its URL, the role's password); dropped after."""
    import secrets
    from urllib.parse import quote

    import psycopg2

    pg = lab["parts"]["postgres"]
    name = f"irdrive_test_{secrets.token_hex(4)}"
    admin = psycopg2.connect(
        host=pg["socket_dir"], port=pg["port"], user="postgres", dbname="postgres"
    )
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE {name} OWNER "{pg["user"]}"')
        user, password = quote(pg["user"], safe=""), quote(pg["password"], safe="")
        yield f"postgresql://{user}:{password}@{pg['host']}:{pg['port']}/{name}", pg["password"]
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def lab_env(lab: dict[str, Any], lab_cfg: Any) -> dict[str, str]:
    """Environment for subprocesses (irdrive, ansible-playbook, kubectl) aimed at the lab."""
    env = dict(os.environ)
    env["IRDRIVE_LAB_DIR"] = str(lab_cfg.dir)
    env["IRDRIVE_LAB_PORT_BASE"] = str(lab_cfg.port_base)
    env["KUBECONFIG"] = lab["kubeconfig"]
    return env


@pytest.fixture
def clean_lab(lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    """The lab reset to its seeded state, no faults."""
    from irdrive_lab.control import manager

    manager.reset(lab_cfg)
    return lab_cfg.read_state()  # a reset reseeds AWS: new WAF set, NACL and zone ids
