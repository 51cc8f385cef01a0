# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Disk use of a storage folder and the stale files below it.

Plain functions over ``os``: no AnsibleModule here. Errors are raised as ``errors.py``
exceptions. Only regular files are matched and removed; symbolic links are never followed,
so a link cannot lead a clean-up out of the folder.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    NotFoundError,
)

AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
AGE_RE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")


def parse_age(value: Any) -> int:
    """Seconds in an age such as ``90``, ``90s``, ``30m``, ``1h``, ``2d`` or ``1w``."""
    match = AGE_RE.match(str(value).lower()) if value is not None else None
    if match is None or isinstance(value, bool):
        raise InvalidInputError(
            f"min_age {value!r} is not an age: use a whole number with an optional unit "
            "s, m, h, d or w (for example 90s, 30m, 1h, 2d)"
        )
    return int(match.group(1)) * AGE_UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class StaleFile:
    path: str
    size: int  # apparent size in bytes
    allocated: int  # bytes the file takes on disk
    age_seconds: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "allocated": self.allocated,
            "age_seconds": self.age_seconds,
        }


@dataclass
class Scan:
    """Files below a folder that match the patterns, split by age."""

    stale: list[StaleFile] = field(default_factory=list)
    fresh: int = 0
    bytes_used: int = 0  # allocated bytes of every regular file below the folder


def check_folder(path: str) -> str:
    """``path`` made absolute; refuses the root folder and anything that is not a folder."""
    if not path or not path.strip():
        raise InvalidInputError("path is empty")
    real = os.path.realpath(path)
    if real == os.path.sep:
        raise InvalidInputError("refusing to clean the root folder /")
    if not os.path.exists(real):
        raise NotFoundError(f"storage path {path} does not exist")
    if not os.path.isdir(real):
        raise InvalidInputError(f"storage path {path} is not a folder")
    return real


def scan(
    path: str,
    patterns: list[str],
    min_age: int,
    recurse: bool = True,
    now: float | None = None,
) -> Scan:
    """Walk ``path`` (without following links); list matching files at least ``min_age`` old."""
    now = time.time() if now is None else now
    result = Scan()
    for root, dirs, names in os.walk(path, followlinks=False):
        if not recurse:
            dirs[:] = []
        for name in names:
            full = os.path.join(root, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            allocated = getattr(st, "st_blocks", 0) * 512
            result.bytes_used += allocated
            if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                continue
            age = int(now - st.st_mtime)
            if age >= min_age:
                result.stale.append(StaleFile(full, st.st_size, allocated, age))
            else:
                result.fresh += 1
    result.stale.sort(key=lambda f: f.path)
    return result


def filesystem_usage(path: str) -> dict[str, Any]:
    """``df`` for the filesystem holding ``path``: sizes in bytes and the percentage used."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    used = total - st.f_bfree * st.f_frsize
    percent = round(100.0 * used / (used + free), 1) if used + free else 0.0
    return {
        "size_bytes": total,
        "used_bytes": used,
        "available_bytes": free,
        "used_percent": percent,
        "mount": _mount_point(path),
    }


def _mount_point(path: str) -> str:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def usage(path: str, found: Scan) -> dict[str, Any]:
    """The report of one folder: its filesystem plus what lies below it."""
    report = filesystem_usage(path)
    report.update(
        path=path,
        folder_bytes=found.bytes_used,
        stale_files=len(found.stale),
        stale_bytes=sum(f.size for f in found.stale),
        fresh_files=found.fresh,
    )
    return report


def remove(files: list[StaleFile]) -> tuple[list[StaleFile], list[dict[str, str]]]:
    """Delete ``files``; a file already gone counts as removed. Returns (removed, errors)."""
    removed: list[StaleFile] = []
    errors: list[dict[str, str]] = []
    for item in files:
        try:
            os.unlink(item.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            errors.append({"path": item.path, "error": exc.strerror or str(exc)})
            continue
        removed.append(item)
    return removed, errors
