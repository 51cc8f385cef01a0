"""The streaming service's health: its pods, the CDN edge it serves through, its video storage
and the streaming kill switch.

Documented simplification: the streaming host's video storage counts as full when
``TMP_FILES_LIMIT`` or more ``*.tmp`` files lie below it, or, when it is a filesystem of its own
(the lab's tmpfs), when that is ``STORAGE_FULL_RATIO`` used. Fault disk-full writes 200 such
files (sparse ones on a plain folder, so their apparent size says nothing); deleting them, or
the old two thirds of them, makes it healthy again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from irdrive_lab.control.config import LabConfig
from irdrive_lab.platform.cluster import configmap_data, deployment_check
from irdrive_lab.platform.util import InfoProvider, dig
from irdrive_lab.platform.web import Response, json_response

TMP_FILES_LIMIT = 100
STORAGE_FULL_RATIO = 0.95


def video_storage_usage(cfg: LabConfig, info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``*.tmp`` files below the streaming host's video storage and its fullness, or None."""
    configured = dig(info, "hosts", "streaming", "paths", "video_storage")
    if not configured:
        return None
    path = Path(configured)
    if not path.is_dir():
        path = cfg.host_root("streaming") / str(configured).lstrip("/")
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            if name.endswith(".tmp"):
                files += 1
                with contextlib.suppress(OSError):
                    size += os.stat(os.path.join(root, name)).st_size
    used = None
    if path.is_dir() and os.path.ismount(path):
        st = os.statvfs(path)
        if st.f_blocks:
            used = round(1 - st.f_bavail / st.f_blocks, 4)
    full = files >= TMP_FILES_LIMIT or (used is not None and used >= STORAGE_FULL_RATIO)
    return {
        "path": str(path),
        "tmp_files": files,
        "tmp_bytes": size,
        "used_ratio": used,
        "full": full,
    }


def streaming_health(
    store: Any, cfg: LabConfig, info: InfoProvider, cdn_check: Callable[[], dict[str, Any]]
) -> Response:
    """200 with every check ok; 503 ``disabled`` by the kill switch, otherwise 503 ``down``."""
    checks = {
        "streaming-service": deployment_check(store, "streaming-service"),
        "cdn": cdn_check(),
    }
    usage = video_storage_usage(cfg, info())
    if usage is None:
        checks["video_storage"] = {"ok": True, "detail": "not configured in lab.json"}
    else:
        detail = (
            f"{usage['tmp_files']} *.tmp files (full at {TMP_FILES_LIMIT}); filesystem used: "
            f"{usage['used_ratio'] if usage['used_ratio'] is not None else 'not its own mount'}"
        )
        checks["video_storage"] = {"ok": not usage["full"], **usage, "detail": detail}
    switch = (configmap_data(store, "kill-switches") or {}).get("streaming")
    if switch == "disabled":
        checks["kill_switch"] = {"ok": False, "detail": "streaming disabled by kill switch"}
    healthy = all(c["ok"] for c in checks.values())
    status = "ok" if healthy else ("disabled" if switch == "disabled" else "down")
    return json_response(200 if healthy else 503, {"status": status, "checks": checks})
