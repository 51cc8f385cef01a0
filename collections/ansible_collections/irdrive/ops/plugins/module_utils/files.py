# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Writing a file on the managed host: atomically, so a reader never sees half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | str,
    mode: int | None = None,
    parents_mode: int | None = None,
) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, fsync, then rename.

    ``mode`` is the file's permission bits; None keeps those of the file being replaced (0644
    for a new file).  With ``parents_mode`` missing parent folders are created with it.
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if parents_mode is not None:
        target.parent.mkdir(parents=True, exist_ok=True, mode=parents_mode)
    if mode is None:
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
