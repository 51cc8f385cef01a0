"""Parsed YAML of the project's playbooks and argument specs, cached by file identity.

``irdrive list``, ``show`` and ``run`` read every playbook and the argument specs of the roles
they use. Parsing them costs more than the rest of ``irdrive list`` together, so the parsed
documents are kept in one JSON file in the cache folder (``irdrive.paths.cache_dir``), each under its path, and used only
while the file still has the same size, modification time (ns) and inode. A document that is not
plain JSON data (a YAML timestamp, a set) is not cached. A cache that cannot be read or written
is ignored: the file is parsed as if there were no cache.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_VERSION = 1


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


class YamlCache:
    """A parse cache in one JSON file; ``load(path, parse)`` returns the parsed document."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._entries: dict[str, Any] | None = None
        self._dirty = False

    def _read(self) -> dict[str, Any]:
        if self._entries is None:
            try:
                data = json.loads(self.file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            ok = isinstance(data, dict) and data.get("version") == CACHE_VERSION
            entries = data.get("entries") if ok else None
            self._entries = entries if isinstance(entries, dict) else {}
        return self._entries

    def load(self, path: Path, parse: Callable[[Path], Any]) -> Any:
        key = str(path.resolve())
        st = os.stat(key)
        entries = self._read()
        hit = entries.get(key)
        if isinstance(hit, dict) and hit.get("id") == _identity(st):
            return hit.get("doc")
        doc = parse(path)
        try:
            plain = json.loads(json.dumps(doc, allow_nan=False)) == doc
        except (TypeError, ValueError):
            plain = False
        if not plain:  # not JSON data, or changed by the round trip (an int mapping key)
            entries.pop(key, None)
            return doc
        # Stat again: a file rewritten while it was parsed is cached on the next read.
        if _identity(os.stat(key)) == _identity(st):
            entries[key] = {"id": _identity(st), "doc": doc}
            self._dirty = True
        return doc

    def save(self) -> None:
        """Write the cache if it changed (atomically; failures are ignored)."""
        if not self._dirty or self._entries is None:
            return
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(
                json.dumps({"version": CACHE_VERSION, "entries": self._entries}), encoding="utf-8"
            )
            os.replace(tmp, self.file)
            self._dirty = False
        except OSError:
            tmp.unlink(missing_ok=True)
