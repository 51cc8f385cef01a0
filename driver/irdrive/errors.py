"""Domain errors of the driver and the exit codes they map to, in one place."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1  # the remediation ran and failed (or could not be verified)
EXIT_USAGE = 2  # usage or bad input: nothing was changed
EXIT_UNREACHABLE = 3  # a target (cluster, AWS, database, host) could not be reached


class IrdriveError(Exception):
    """Base of the errors the CLI turns into one readable line and an exit code."""

    exit_code = EXIT_FAILED


class UsageError(IrdriveError):
    exit_code = EXIT_USAGE


class UnknownRunbookError(UsageError):
    pass


class ParameterError(UsageError):
    pass


class NotConfirmed(UsageError):
    """The responder declined the confirmation prompt: nothing was changed."""


class RemediationFailed(IrdriveError):
    exit_code = EXIT_FAILED


class TargetUnreachable(IrdriveError):
    exit_code = EXIT_UNREACHABLE


def handle_errors[F: Callable[..., Any]](func: F) -> F:
    """Turn IrdriveError into ``Error: ...`` and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import click

        try:
            return func(*args, **kwargs)
        except IrdriveError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
