"""One journal read shows every write: PostgreSQL statements and host changes included.

PostgreSQL keeps its statements in its own csv log and the hosts have no agent; the journal
folds both in when it is read (irdrive_lab.control.collect). Reads leave no entry.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from _runbook import writes_since

from irdrive_lab.control import manager
from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults


def _pg(lab: dict[str, Any]) -> Any:
    pg = lab["postgres"]
    conn = psycopg2.connect(
        host=pg["host"],
        port=pg["port"],
        dbname=pg["dbname"],
        user=pg["rotation_user"],  # the role rotate-secrets uses: it may ALTER ROLE
        password=pg["rotation_password"],
        connect_timeout=3,
        application_name="journal-test",
    )
    conn.autocommit = True
    return conn


def _settled(lab: dict[str, Any], mark: int, want: int) -> list[dict[str, Any]]:
    """The writes since ``mark`` once ``want`` of them are there (the csv log is written async)."""
    deadline = time.monotonic() + 5
    while True:
        got = writes_since(lab, mark)
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _ssh(lab: dict[str, Any], host: str, command: str) -> str:
    res = subprocess.run(
        ["ssh", "-F", str(Path(lab["dir"]) / "ssh_config"), host, command],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_postgres_writes_are_journaled_and_reads_are_not(clean_lab: dict[str, Any]) -> None:
    role = clean_lab["postgres"]["app_users"][1]
    mark = Journal(Path(clean_lab["journal"])).mark()
    conn = _pg(clean_lab)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity")
            cur.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (role,))
            time.sleep(0.3)
            assert writes_since(clean_lab, mark) == []
            cur.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT 40')
            got = _settled(clean_lab, mark, 1)
            cur.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT -1')
    finally:
        conn.close()
    assert [(e["source"], e["method"], e["path"]) for e in got] == [("postgres", "SQL", "ALTER")]
    assert got[0]["application_name"] == "journal-test"
    assert got[0]["body_sha256"].startswith("sha256:")
    # Numbered after the mark and in order: a second read adds nothing new.
    again = writes_since(clean_lab, mark)
    assert [e["seq"] for e in again[:1]] == [got[0]["seq"]]


def test_host_changes_are_journaled_and_reads_are_not(clean_lab: dict[str, Any]) -> None:
    web = clean_lab["hosts"]["web"]
    if web.get("connection") != "ssh" or not web.get("nft"):
        pytest.skip(f"lab hosts without nft in a network namespace: {web.get('note')}")
    journal = Journal(Path(clean_lab["journal"]))
    deny = web["paths"]["nginx_deny_include"]
    mark = journal.mark()
    # Reads over ssh: the ruleset, the access log, the nginx configuration.
    _ssh(clean_lab, "web", f"nft list ruleset; tail -n 3 {web['paths']['access_log']}; ls /")
    assert writes_since(clean_lab, mark) == []

    _ssh(
        clean_lab,
        "web",
        "nft add table inet jtest && "
        "nft add set inet jtest blocked '{ type ipv4_addr; }' && "
        "nft add element inet jtest blocked '{ 203.0.113.9 }'",
    )
    got = writes_since(clean_lab, mark)
    assert {(e["source"], e["method"], e["path"], e["change"]) for e in got} == {
        ("host", "NFT", "web:table inet jtest", "added"),
        ("host", "NFT", "web:set inet jtest blocked", "added"),
    }
    mark = journal.mark()
    _ssh(clean_lab, "web", "nft add element inet jtest blocked '{ 203.0.113.10 }'")
    _ssh(clean_lab, "web", f"echo 'deny 203.0.113.10;' > {deny}")
    got = writes_since(clean_lab, mark)
    assert {(e["source"], e["path"], e["change"]) for e in got} == {
        ("host", "web:set inet jtest blocked", "changed"),
        ("host", f"web:{deny.removeprefix(web['root'])}", "added"),
    }
    mark = journal.mark()
    _ssh(clean_lab, "web", f"cat {deny}; nft list set inet jtest blocked")
    assert writes_since(clean_lab, mark) == []


def test_the_labs_own_changes_are_not_counted_as_writes(
    clean_lab: dict[str, Any], lab_cfg: Any
) -> None:
    journal = Journal(Path(clean_lab["journal"]))
    mark = journal.mark()
    faults.inject(lab_cfg, clean_lab, "disk-full", {"count": 5})
    faults.clear(lab_cfg, clean_lab, "disk-full")
    manager.reset(lab_cfg)
    assert writes_since(clean_lab, mark) == []
    own = [e for e in journal.since(mark) if e["source"] == "lab" and e["method"] == "FILE"]
    assert any(e["path"].startswith("streaming:/var/lib/videos/") for e in own), own
