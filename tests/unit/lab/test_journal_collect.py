"""The journal folds in PostgreSQL's csv log and the hosts' file changes, once each, in order."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from irdrive_lab.control.journal import Journal
from irdrive_lab.hosts.snapshot import diff


def _lab(tmp_path: Path) -> tuple[Journal, Path, Path]:
    root = tmp_path / "hosts/web"
    (root / "etc/nginx/conf.d").mkdir(parents=True)
    (root / "etc/ssh").mkdir(parents=True)
    (root / "etc/nginx/nginx.conf").write_text("events {}\n")
    log_dir = tmp_path / "pglog"
    log_dir.mkdir()
    state = {
        "dir": str(tmp_path),
        "port_base": 20000,
        "hosts": {"web": {"root": str(root), "connection": "local", "nft": False}},
        "postgres": {"log_dir": str(log_dir)},
    }
    (tmp_path / "lab.json").write_text(json.dumps(state))
    return Journal(tmp_path / "journal.jsonl"), root, log_dir


def _log(log_dir: Path, *rows: tuple[str, str, str]) -> None:
    """Append csvlog rows (time, message, application_name)."""
    with (log_dir / "postgresql.csv").open("a", newline="") as fh:
        for when, message, app in rows:
            row = [""] * 26
            row[0], row[1], row[2], row[3] = f"2026-12-01 10:00:{when} UTC", "u", "platform", "7"
            row[13], row[22] = message, app
            csv.writer(fh).writerow(row)


def test_postgres_statements_and_host_files_are_folded_in_once(tmp_path: Path) -> None:
    journal, root, log_dir = _lab(tmp_path)
    journal.record("kubernetes", "PATCH", "/apis/apps/v1/x")
    _log(log_dir, ("01.000", "statement: UPDATE users SET status = 'x'", "psql"))
    mark = journal.mark()  # the first read sets the hosts' baseline and folds the UPDATE in
    assert [e["source"] for e in journal.since(0)] == ["kubernetes", "postgres"]

    (root / "etc/nginx/conf.d/irdrive-deny.conf").write_text("deny 203.0.113.7;\n")
    (root / "etc/ssh/sshd_config").write_text("changed by the lab at start only\n")
    _log(
        log_dir,
        ("02.000", "statement: ALTER ROLE app PASSWORD 'x'", "ansible"),
        ("02.000", "execute <unnamed>: DELETE FROM sessions", "ansible"),
        ("02.500", "statement: CREATE TEMP TABLE t (i int)", "irdrive-lab"),
        ("03.000", "duration: 1 ms", "ansible"),
    )
    new = journal.since(mark)
    assert [(e["source"], e["method"], e["path"]) for e in new] == [
        ("postgres", "SQL", "ALTER"),
        ("postgres", "SQL", "DELETE"),
        ("lab", "SQL", "CREATE"),
        ("host", "FILE", "web:/etc/nginx/conf.d/irdrive-deny.conf"),
    ]
    assert new[-1]["change"] == "added" and new[-1]["host"] == "web"
    assert "PASSWORD" not in json.dumps(new)  # statements are digested, never copied
    # Read again: nothing is folded in twice; a statement with the same time is still new.
    assert journal.since(mark) == new
    _log(log_dir, ("02.500", "statement: UPDATE users SET status = 'y'", "ansible"))
    (root / "etc/nginx/conf.d/irdrive-deny.conf").unlink()
    again = journal.since(new[-1]["seq"])
    assert [(e["path"], e.get("change")) for e in again] == [
        ("UPDATE", None),
        ("web:/etc/nginx/conf.d/irdrive-deny.conf", "removed"),
    ]


def test_reads_change_nothing_and_the_labs_own_changes_are_its_own(tmp_path: Path) -> None:
    journal, root, _ = _lab(tmp_path)
    mark = journal.mark()
    (root / "etc/nginx/nginx.conf").read_text()
    assert journal.since(mark) == []
    (root / "etc/nginx/nginx.conf").write_text("events { worker_connections 1; }\n")
    journal.collect(host_source="lab")
    assert [(e["source"], e["change"]) for e in journal.since(mark)] == [("lab", "changed")]


def test_a_journal_without_a_lab_beside_it_is_read_as_it_is(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.record("aws", "POST", "/")
    assert journal.mark() == 1 and journal.collect() == 0


def test_snapshot_diff_names_each_change() -> None:
    before = {"nft set inet t s": "sha256:a", "file /x": "sha256:b", "file /gone": "sha256:c"}
    after = {"nft set inet t s": "sha256:d", "file /x": "sha256:b", "file /new": "sha256:e"}
    assert diff(before, after) == [
        ("removed", "file /gone", None),
        ("added", "file /new", "sha256:e"),
        ("changed", "nft set inet t s", "sha256:d"),
    ]


def test_a_hosts_lock_files_are_marked_lock_and_its_other_files_are_not(tmp_path: Path) -> None:
    journal, root, _ = _lab(tmp_path)
    state = json.loads((tmp_path / "lab.json").read_text())
    state["hosts"]["web"]["paths"] = {"locks": str(root / "var/lib/irdrive/locks")}
    (tmp_path / "lab.json").write_text(json.dumps(state))
    mark = journal.mark()
    (root / "var/lib/irdrive/locks").mkdir(parents=True)
    (root / "var/lib/irdrive/locks/web.json").write_text('{"holder": "run 1"}')
    (root / "var/lib/irdrive/locks-not.json").write_text("{}")  # beside the folder: a write
    (root / "etc/nginx/conf.d/irdrive-deny.conf").write_text("deny 203.0.113.7;\n")
    marked = {e["path"]: e.get("lock", False) for e in journal.since(mark)}
    assert marked == {
        "web:/var/lib/irdrive/locks/web.json": True,
        "web:/var/lib/irdrive/locks-not.json": False,
        "web:/etc/nginx/conf.d/irdrive-deny.conf": False,
    }
