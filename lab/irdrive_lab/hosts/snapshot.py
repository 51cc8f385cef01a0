"""The lab hosts' state as the journal compares it: nftables objects and the hosts' files.

A host has no agent that could journal its writes, so the journal folds in the difference
between two snapshots instead (:mod:`irdrive_lab.control.collect`). A snapshot maps a key per
object to a digest of it:

- ``nft <kind> <family> <table> [<name>|<handle>]`` for each table, chain, set (with its
  elements), map and rule in the host's network namespace (``nft -j list ruleset``);
- ``file <path>`` for each file under the host's root folder (nginx configuration and deny
  includes, access logs, storage), except the host's sshd keys and configuration.

Reads (``nft list``, ``cat``, ``df``, a playbook's ``stat``) change no digest; a write to an
nft set, a deny include or a deleted video does.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from irdrive_lab.hosts import netns

# Files at most this big are hashed; bigger ones are compared by size and mtime.
HASH_LIMIT = 1 << 20
_SKIP_DIRS = ("etc/ssh",)  # written by the lab at start only


def host_snapshot(rec: dict[str, Any]) -> dict[str, str]:
    """``{key: digest}`` for one host record of lab.json (``state["hosts"][name]``)."""
    snap: dict[str, str] = {}
    root = Path(rec.get("root") or "")
    if rec.get("root") and root.is_dir():
        snap.update(_files(root))
    if rec.get("connection") == "ssh" and rec.get("nft") and rec.get("netns"):
        snap.update(_nft(str(rec["netns"])))
    return snap


def _files(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [
            d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in _SKIP_DIRS
        ]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if st.st_size <= HASH_LIMIT and os.path.isfile(path):
                    with open(path, "rb") as fh:
                        digest = "sha256:" + hashlib.sha256(fh.read()).hexdigest()
                else:
                    digest = f"size:{st.st_size} mtime:{st.st_mtime_ns}"
            except OSError:
                continue  # removed while walking: the next snapshot shows it gone
            out["file /" + os.path.normpath(os.path.join(rel_dir, name))] = digest
    return out


def _nft(ns: str) -> dict[str, str]:
    res = subprocess.run(
        [netns.IP, "netns", "exec", ns, netns.NFT, "-j", "list", "ruleset"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if res.returncode != 0:
        return {"nft ruleset": "unreadable: " + res.stderr.strip()[:200]}
    try:
        items = json.loads(res.stdout or "{}").get("nftables", [])
    except ValueError:
        return {"nft ruleset": "unparsable"}
    out: dict[str, str] = {}
    for item in items:
        for kind, obj in item.items():
            if kind == "metainfo" or not isinstance(obj, dict):
                continue
            table = obj.get("table", obj.get("name") if kind == "table" else "")
            ident = obj.get("handle") if kind == "rule" else obj.get("name", "")
            key = f"nft {kind} {obj.get('family', '')} {table}"
            if kind != "table":
                key += f" {obj.get('chain', '')} {ident}" if kind == "rule" else f" {ident}"
            body = {k: v for k, v in obj.items() if k != "handle" or kind == "rule"}
            blob = json.dumps(body, sort_keys=True).encode()
            out[key] = "sha256:" + hashlib.sha256(blob).hexdigest()
    return out


def diff(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """``(change, key, digest)`` for each key added, changed or removed, sorted by key."""
    changes: list[tuple[str, str, str | None]] = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        changes.append((change, key, new))
    return changes
