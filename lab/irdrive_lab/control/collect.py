"""Fold the writes that lab parts keep outside the journal file into it, so one read shows all.

Kubernetes, AWS and the platform append to the journal as they serve a request. Two sources
cannot: PostgreSQL logs its mutating statements in its own csv log (``log_statement = 'mod'``,
read by :func:`irdrive_lab.pg.journal.journal_entries`), and the hosts have no agent at all
(their state is compared by :mod:`irdrive_lab.hosts.snapshot`). :func:`collect` appends, under
a lock, the statements logged since the last collection (source ``postgres``) and one entry
per nftables object or host file that changed since the last snapshot (source ``host``).

``Journal.mark()`` and ``Journal.since()`` call it first, so a mark taken before a run and a
read after it see the run's PostgreSQL and host writes numbered after the mark. Statements of
the lab's own sessions (application_name ``irdrive-lab``, the db-slow fault) and host changes
made by ``lab reset`` or a fault are journaled with source ``lab``, as the lab's own AWS and
platform calls are.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

# The lab's own PostgreSQL sessions (irdrive_lab.pg.cluster.LAB_APPNAME, pg.faults.SLOW_APPNAME).
LAB_PG_APPNAMES = frozenset({"irdrive-lab", "lab-db-slow"})


def collect(journal: Any, host_source: str = "host") -> int:
    """Append to ``journal`` (a Journal) the PostgreSQL and host writes not yet in it.

    Returns how many entries were appended; 0 when no lab state sits next to the journal.
    ``host_source`` is ``lab`` when the lab itself just changed the hosts (reset, a fault).
    """
    lab_dir = Path(journal.path).parent
    try:
        state = json.loads((lab_dir / "lab.json").read_text())
    except (OSError, ValueError):
        return 0
    cursor_path = lab_dir / "journal.sources.json"
    lock_fd = os.open(lab_dir / "journal.sources.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            cursor = json.loads(cursor_path.read_text())
        except (OSError, ValueError):
            cursor = {}
        written = _collect_pg(journal, state, cursor)
        written += _collect_hosts(journal, state, cursor, host_source)
        tmp = cursor_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cursor, sort_keys=True))
        tmp.replace(cursor_path)
    finally:
        os.close(lock_fd)
    return written


def _collect_pg(journal: Any, state: dict[str, Any], cursor: dict[str, Any]) -> int:
    info = (state.get("parts") or {}).get("postgres") or state.get("postgres")
    if not info or not info.get("log_dir"):
        return 0
    from irdrive_lab.control.config import LabConfig
    from irdrive_lab.pg.journal import journal_entries

    cfg = LabConfig(dir=Path(state["dir"]), port_base=int(state.get("port_base") or 0))
    # The cursor: the newest statement time folded in, and how many statements had it.
    pg = cursor.setdefault("postgres", {"ts": 0.0, "at_ts": 0})
    seen_at_ts = 0
    written = 0
    for entry in journal_entries(cfg, info):
        if entry["ts"] < pg["ts"]:
            continue
        if entry["ts"] == pg["ts"]:
            seen_at_ts += 1
            if seen_at_ts <= pg["at_ts"]:
                continue
        source = "lab" if entry.get("application_name") in LAB_PG_APPNAMES else "postgres"
        fields = {k: v for k, v in entry.items() if k not in ("source", "method", "path")}
        fields.pop("status", None)
        fields["logged_at"] = fields.pop("ts")
        # body_sha256 is the statement's digest, passed through as the log gave it
        journal.record(source, entry["method"], entry["path"], None, None, **fields)
        written += 1
        if entry["ts"] > pg["ts"]:
            pg["ts"], pg["at_ts"], seen_at_ts = entry["ts"], 1, 1
        else:
            pg["at_ts"] = seen_at_ts
    return written


def _collect_hosts(journal: Any, state: dict[str, Any], cursor: dict[str, Any], source: str) -> int:
    from irdrive_lab.hosts.snapshot import diff, host_snapshot

    hosts = (state.get("parts") or {}).get("hosts") or state.get("hosts") or {}
    previous = cursor.get("hosts")
    snaps = {name: host_snapshot(rec) for name, rec in sorted(hosts.items())}
    cursor["hosts"] = snaps
    if previous is None:  # the first collection only sets the baseline
        return 0
    written = 0
    for name, snap in snaps.items():
        # The runs' lock files (irdrive.ops.host_lock) are their bookkeeping: marked lock: true.
        locks = str((hosts[name].get("paths") or {}).get("locks") or "")
        root = str(hosts[name].get("root") or "")
        lock_dir = "/" + os.path.relpath(locks, root) + "/" if locks and root else None
        for change, key, digest in diff(previous.get(name, {}), snap):
            kind, _, what = key.partition(" ")
            lock = bool(lock_dir) and kind == "file" and what.startswith(str(lock_dir))
            journal.record(
                source,
                kind.upper(),
                f"{name}:{what}",
                None,
                None,
                host=name,
                change=change,
                digest=digest,
                lock=True if lock else None,
            )
            written += 1
    return written
