"""The lab's request journal: one JSON line per mutating request, shared by every lab part.

Writers append single lines with O_APPEND, so the Kubernetes API (labd), the AWS front of
moto and the other parts can write to one file without a lock. Readers get entries in order,
each numbered by its line (``seq``), so a test takes ``mark()`` before a run and asserts that
``since(mark)`` holds no writes after it. Both first fold in the writes PostgreSQL and the hosts
keep outside this file (:mod:`irdrive_lab.control.collect`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def body_digest(body: bytes | None) -> str | None:
    if not body:
        return None
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass
class Journal:
    path: Path

    def record(
        self,
        source: str,
        method: str,
        path: str,
        body: bytes | None = None,
        status: int | None = None,
        **extra: Any,
    ) -> None:
        """Append one entry. ``source`` is kubernetes, aws, platform, postgres, host or lab."""
        entry: dict[str, Any] = {
            "ts": round(time.time(), 6),
            "source": source,
            "method": method,
            "path": path,
            "body_sha256": body_digest(body),
            "status": status,
        }
        entry.update({k: v for k, v in extra.items() if v is not None})
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def entries(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open() as fh:
                for seq, line in enumerate(fh, start=1):
                    line = line.strip()
                    if not line:
                        continue
                    entry = json.loads(line)
                    entry["seq"] = seq
                    yield entry
        except FileNotFoundError:
            return

    def collect(self, host_source: str = "host") -> int:
        """Fold in PostgreSQL and host writes kept outside this file (see control.collect)."""
        from irdrive_lab.control.collect import collect

        return collect(self, host_source)

    def mark(self) -> int:
        """The seq of the last entry (0 for an empty journal), PostgreSQL and hosts included."""
        self.collect()
        last = 0
        for entry in self.entries():
            last = entry["seq"]
        return last

    def since(self, mark: int, source: str | None = None) -> list[dict[str, Any]]:
        self.collect()
        return [
            e
            for e in self.entries()
            if e["seq"] > mark and (source is None or e["source"] == source)
        ]
