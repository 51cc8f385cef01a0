"""Local approvals: the pending requests that an alert opened for a destructive runbook.

The local rulebook (``rulebooks/alertmanager.yml``) never runs a destructive runbook from an
alert. Its playbook ``rulebooks/playbooks/request-approval.yml`` writes one JSON request into
the approvals folder instead (``$IRDRIVE_APPROVALS_DIR``, else ``<state dir>/approvals``)::

    {"version": 1, "id": "security-breach-18f1305e43ec", "runbook": "security-breach",
     "status": "pending", "requested_at": "...Z", "reason": "...", "extra_vars": {...},
     "alert": {...the alert...}, "rule": "..."}

A responder lists and reads them, then approves (optionally adding parameters the alert could
not give, and running the runbook at once) or rejects. A decision is recorded in the same file
(``decided_at``, ``decided_by``, ``note``, and the status it replaced) and is final.
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irdrive.errors import UsageError
from irdrive.paths import state_dir

ENV_APPROVALS_DIR = "IRDRIVE_APPROVALS_DIR"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
STATUSES = (PENDING, APPROVED, REJECTED)


def default_dir() -> Path:
    env = os.environ.get(ENV_APPROVALS_DIR)
    if env:
        return Path(env).expanduser().resolve()
    return state_dir() / "approvals"


@dataclass
class Request:
    """One approval request, as its file holds it (unknown keys are kept on rewrite)."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.data.get("id") or self.path.stem)

    @property
    def runbook(self) -> str:
        return str(self.data.get("runbook") or "")

    @property
    def status(self) -> str:
        return str(self.data.get("status") or "")

    @property
    def extra_vars(self) -> dict[str, Any]:
        value = self.data.get("extra_vars")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def labels(self) -> dict[str, Any]:
        alert = self.data.get("alert")
        labels = alert.get("labels") if isinstance(alert, dict) else None
        return labels if isinstance(labels, dict) else {}

    def summary(self) -> dict[str, Any]:
        """The fields ``irdrive approvals list`` shows."""
        return {
            "id": self.id,
            "runbook": self.runbook,
            "status": self.status,
            "severity": self.labels.get("severity"),
            "alert": self.labels.get("alertname"),
            "requested_at": self.data.get("requested_at"),
            "decided_by": self.data.get("decided_by"),
        }


def load(path: Path) -> Request:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"approval request {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or data.get("status") not in STATUSES or not data.get("runbook"):
        raise UsageError(
            f"approval request {path} is not one: it needs a runbook and a status "
            f"({', '.join(STATUSES)})"
        )
    return Request(path=path, data=data)


def requests(folder: Path, status: str | None = PENDING) -> list[Request]:
    """The requests in ``folder`` (only those with ``status`` unless None), oldest first."""
    if not folder.is_dir():
        return []
    found = [load(p) for p in sorted(folder.glob("*.json"))]
    if status is not None:
        found = [r for r in found if r.status == status]
    return sorted(found, key=lambda r: (str(r.data.get("requested_at") or ""), r.id))


def get(folder: Path, request_id: str) -> Request:
    path = folder / f"{request_id}.json"
    if "/" in request_id or not path.is_file():
        known = ", ".join(r.id for r in requests(folder, None)) or "none"
        raise UsageError(f"no approval request {request_id!r} in {folder} (there are: {known})")
    return load(path)


def _write(request: Request) -> None:
    """Replace the request's file in one step (a reader never sees half a file)."""
    fd, tmp = tempfile.mkstemp(dir=request.path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(request.data, fh, indent=4, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, request.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def decide(
    folder: Path,
    request_id: str,
    status: str,
    by: str | None = None,
    note: str = "",
    extra_vars: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Request:
    """Approve or reject a pending request; the decision is final. Returns the request."""
    if status not in (APPROVED, REJECTED):
        raise ValueError(f"a decision is {APPROVED} or {REJECTED}, not {status}")
    request = get(folder, request_id)
    if request.status != PENDING:
        raise UsageError(
            f"approval request {request.id} is already {request.status} "
            f"(by {request.data.get('decided_by') or '?'} at {request.data.get('decided_at')})"
        )
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    request.data.update(
        status=status,
        prior_status=PENDING,
        decided_at=stamp,
        decided_by=by or getpass.getuser(),
        note=note,
    )
    if extra_vars:
        request.data["extra_vars"] = {**request.extra_vars, **extra_vars}
    _write(request)
    return request


def run_args(request: Request) -> list[str]:
    """``irdrive run`` arguments that run the request's runbook with its parameters."""
    args = ["run", request.runbook]
    for key, value in sorted(request.extra_vars.items()):
        text = value if isinstance(value, str) else json.dumps(value)
        args += ["-e", f"{key}={text}"]
    return args


def run_command(request: Request) -> str:
    return shlex.join(["irdrive", *run_args(request)])
