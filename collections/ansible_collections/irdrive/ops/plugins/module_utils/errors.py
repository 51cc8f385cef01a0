# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The exceptions raised by irdrive.ops module_utils.

module_utils never call ``fail_json``: they raise one of these, and the module entry point turns
it into a failed result.  ``kind`` is a stable word that callers (playbooks, the driver) use to
tell an unreachable target from bad input or a conflict; modules return it as ``error_kind``.
"""

from __future__ import annotations

from typing import Any


class IrdriveOpsError(Exception):
    """Base class: a failure with a readable one-line message."""

    kind = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details
        self.attempts: int | None = None

    def __str__(self) -> str:
        return self.message

    def to_result(self) -> dict[str, Any]:
        """Fields a module adds to its failed result (never secrets)."""
        result: dict[str, Any] = {"error_kind": self.kind}
        if self.attempts is not None:
            result["attempts"] = self.attempts
        result.update(self.details)
        return result


class TransientError(IrdriveOpsError):
    """Worth retrying: throttling (429), server errors (5xx), timeouts, dropped connections."""

    kind = "transient"


class UnreachableError(IrdriveOpsError):
    """The target did not answer at all (connection refused, DNS, no route, connect timeout)."""

    kind = "unreachable"


class TLSError(IrdriveOpsError):
    """The TLS handshake failed (untrusted or mismatched certificate)."""

    kind = "tls"


class AuthError(IrdriveOpsError):
    """The target refused our credentials (401/403, password authentication failed)."""

    kind = "auth"


class NotFoundError(IrdriveOpsError):
    """The object we were asked to act on does not exist."""

    kind = "not_found"


class ConflictError(IrdriveOpsError):
    """A write lost an optimistic-concurrency race (HTTP 409, stale resourceVersion)."""

    kind = "conflict"


class InvalidInputError(IrdriveOpsError):
    """The caller's input (or configuration such as a kubeconfig) is unusable."""

    kind = "invalid_input"


class InvalidStateError(IrdriveOpsError):
    """The target holds data we cannot interpret (e.g. a corrupt kill-switch history)."""

    kind = "invalid_state"


class UnhealthyError(IrdriveOpsError):
    """A health check got an answer, and the answer says unhealthy."""

    kind = "unhealthy"


class RefusedError(IrdriveOpsError):
    """The request is refused by a guard (e.g. it would fight an autoscaler); nothing changed."""

    kind = "refused"


class DeadlineExceeded(IrdriveOpsError):
    """A bounded wait or retry loop ran out of time."""

    kind = "timeout"


class MissingLibrary(IrdriveOpsError):
    """A Python library this call needs is not installed (``missing_required_lib`` reports it)."""

    kind = "missing_library"

    def __init__(self, library: str, reason: str, import_error: str) -> None:
        super().__init__(f"the {library} Python library is required {reason}: {import_error}")
        self.library = library
        self.reason = reason
        self.import_error = import_error
