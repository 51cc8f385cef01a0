# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Evidence bundles: a folder of artifacts, a SHA-256 manifest, and an append-only custody log.

Layout of a bundle (every path relative to the bundle folder)::

    <artifacts...>        k8s/..., db/..., hosts/..., drift/...
    manifest.json         {"incident_id", "bundle", "sealed_at", "tool", "files": [...]}
    MANIFEST.sha256       the same hashes in ``sha256sum -c`` format
    custody.jsonl         one JSON object a line; each names the SHA-256 of the line before it

A bundle is *sealed* once ``manifest.json`` exists. Sealing never rewrites a sealed bundle;
verification recomputes every hash and names each file that is missing, altered or unlisted,
and checks that ``manifest.json`` is the one the custody log recorded when it was sealed.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.files import write_atomic

#: The version of the irdrive.ops collection (galaxy.yml); recorded in every custody entry.
COLLECTION_VERSION = "0.1.0"
TOOL = "irdrive.ops"

MANIFEST_JSON = "manifest.json"
MANIFEST_SHA256 = "MANIFEST.sha256"
CUSTODY_LOG = "custody.jsonl"
#: Files that describe the bundle and are not artifacts.
META_FILES = frozenset({MANIFEST_JSON, MANIFEST_SHA256, CUSTODY_LOG})

_WINDOW = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1024 * 1024


def window_seconds(window: str | int) -> int:
    """``"24h"`` -> 86400; also ``s``, ``m``, ``d``, ``w`` and plain seconds."""
    match = _WINDOW.match(str(window))
    if not match or int(match.group(1)) <= 0:
        raise InvalidInputError(
            f"window {window!r} is not a duration such as 30m, 24h or 7d (a positive number "
            "with s, m, h, d or w)"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def check_incident_id(incident_id: str) -> str:
    if not _INCIDENT_ID.match(incident_id or ""):
        raise InvalidInputError(
            f"incident id {incident_id!r} must be 1-128 letters, digits, '.', '_' or '-' "
            "(it names the bundle folder)"
        )
    return incident_id


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor(explicit: str | None = None) -> str:
    """Who collects: the given actor, else $USER, else the login name."""
    if explicit:
        return explicit
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def tool_record(module_name: str) -> dict[str, str]:
    try:
        from ansible.module_utils.ansible_release import __version__ as ansible_version
    except ImportError:  # pragma: no cover - always there under Ansible
        ansible_version = "unknown"
    return {
        "tool": f"{TOOL}.{module_name}",
        "tool_version": COLLECTION_VERSION,
        "ansible_version": ansible_version,
        "host": socket.gethostname(),
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_relpath(relpath: str) -> str:
    """``relpath`` normalised; refuses absolute paths and ``..`` (nothing leaves the bundle)."""
    norm = os.path.normpath(relpath.replace("\\", "/"))
    if norm.startswith(("/", "../")) or norm in ("..", ".", "") or os.path.isabs(norm):
        raise InvalidInputError(f"artifact path {relpath!r} must stay inside the bundle")
    return norm


def write_file(path: Path, data: bytes | str) -> None:
    """Write atomically (temporary file, fsync, rename), creating parent folders, mode 0600."""
    write_atomic(path, data, mode=0o600, parents_mode=0o700)


def sync_files(dest: Path, files: dict[str, bytes], check_mode: bool) -> dict[str, Any]:
    """Write each of ``files`` (bundle-relative path -> content) that differs from ``dest``'s.

    The one way artifacts reach a bundle.  Returns the result keys the collecting modules
    share: ``changed`` (a file was or would be written), ``before`` (which of the files
    existed) and ``files`` (path and size of each); check mode writes nothing.
    """
    present = sorted(rel for rel in files if (dest / rel).is_file())
    changed = False
    for rel, data in sorted(files.items()):
        target = dest / safe_relpath(rel)
        if target.is_file() and target.read_bytes() == data:
            continue
        changed = True
        if not check_mode:
            write_file(target, data)
    return {
        "changed": changed,
        "before": {"files": present},
        "files": [{"path": rel, "bytes": len(data)} for rel, data in sorted(files.items())],
    }


def artifact_files(bundle: Path) -> list[str]:
    """Relative paths of the bundle's artifacts (everything but the meta files), sorted."""
    found = []
    for root, dirs, files in os.walk(bundle):
        dirs.sort()
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), bundle)
            if rel in META_FILES or name.startswith(".") and name.endswith(".tmp"):
                continue
            found.append(rel.replace(os.sep, "/"))
    return sorted(found)


def hash_artifacts(bundle: Path) -> list[dict[str, Any]]:
    return [
        {"path": rel, "sha256": sha256_file(bundle / rel), "size": (bundle / rel).stat().st_size}
        for rel in artifact_files(bundle)
    ]


def sha256sum_text(files: Iterable[dict[str, Any]]) -> str:
    """The ``sha256sum`` format: ``<hex>  <path>`` a line."""
    return "".join(f"{f['sha256']}  {f['path']}\n" for f in files)


def is_sealed(bundle: Path) -> bool:
    return (bundle / MANIFEST_JSON).is_file()


def read_manifest(bundle: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((bundle / MANIFEST_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(
            f"{bundle} is not a sealed evidence bundle (no {MANIFEST_JSON})"
        ) from None
    except ValueError as error:
        raise InvalidStateError(f"{bundle / MANIFEST_JSON} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise InvalidStateError(f"{bundle / MANIFEST_JSON} has no list of files")
    return manifest


def read_custody(bundle: Path) -> list[dict[str, Any]]:
    path = bundle / CUSTODY_LOG
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise InvalidStateError(f"{path}: line {number} is not JSON") from None
    return entries


def append_custody(bundle: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Append one custody entry, chained to the previous line by its SHA-256 (``prev``)."""
    path = bundle / CUSTODY_LOG
    previous = b""
    if path.is_file():
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        previous = lines[-1] if lines else b""
    record = dict(entry, prev=sha256_bytes(previous) if previous else None)
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return record


def verify_bundle(bundle: Path, incident_id: str | None = None) -> dict[str, Any]:
    """Recompute every hash of a sealed bundle; return what was checked and every problem.

    Problems name the file: ``k8s/state/pods.yaml: altered (sha256 ... != ...)``, ``missing``,
    ``not in the manifest``; a ``manifest.json`` that is not the one recorded by the custody
    log when the bundle was sealed; a custody chain that is broken; another incident's bundle.
    """
    manifest = read_manifest(bundle)
    problems: list[str] = []
    altered: list[str] = []
    listed: dict[str, dict[str, Any]] = {}
    for entry in manifest["files"]:
        listed[safe_relpath(str(entry.get("path", "")))] = entry
    for rel, entry in sorted(listed.items()):
        path = bundle / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
            altered.append(rel)
            continue
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            problems.append(f"{rel}: altered (sha256 {digest} != {entry.get('sha256')})")
            altered.append(rel)
    for rel in artifact_files(bundle):
        if rel not in listed:
            problems.append(f"{rel}: not in the manifest")
            altered.append(rel)
    manifest_digest = sha256_file(bundle / MANIFEST_JSON)
    custody = read_custody(bundle)
    sealed = [e for e in custody if e.get("event") == "sealed"]
    if not sealed:
        problems.append(f"{CUSTODY_LOG}: no 'sealed' entry")
    elif sealed[0].get("manifest_sha256") != manifest_digest:
        problems.append(
            f"{MANIFEST_JSON}: altered (sha256 {manifest_digest} is not the one sealed, "
            f"{sealed[0].get('manifest_sha256')})"
        )
        altered.append(MANIFEST_JSON)
    previous: bytes | None = None
    raw_lines = (
        [ln for ln in (bundle / CUSTODY_LOG).read_bytes().splitlines() if ln.strip()]
        if custody
        else []
    )
    if len(raw_lines) != len(custody):  # as zip(strict=True) would, which Python 3.9 lacks
        problems.append(f"{CUSTODY_LOG}: its lines and its entries differ in number")
    for number, (line, entry) in enumerate(zip(raw_lines, custody), start=1):
        expected = sha256_bytes(previous) if previous is not None else None
        if entry.get("prev") != expected:
            problems.append(f"{CUSTODY_LOG}: line {number} breaks the chain")
            break
        previous = line
    sums = bundle / MANIFEST_SHA256
    if sums.is_file() and sums.read_text(encoding="utf-8") != sha256sum_text(
        sorted(manifest["files"], key=lambda f: f["path"])
    ):
        problems.append(f"{MANIFEST_SHA256}: does not match {MANIFEST_JSON}")
        altered.append(MANIFEST_SHA256)
    if incident_id and manifest.get("incident_id") != incident_id:
        problems.append(
            f"{MANIFEST_JSON}: bundle of incident {manifest.get('incident_id')!r}, "
            f"not {incident_id!r}"
        )
    return {
        "ok": not problems,
        "problems": problems,
        "altered": sorted(set(altered)),
        "files": len(listed),
        "manifest_sha256": manifest_digest,
        "incident_id": manifest.get("incident_id"),
        "sealed_at": manifest.get("sealed_at"),
        "custody_entries": len(custody),
    }
