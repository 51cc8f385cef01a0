# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""botocore errors turned into the irdrive.ops exception hierarchy (``errors.py``).

Which AWS error codes count as what is named here, once: ``CONFLICT`` codes are optimistic
concurrency losses (re-read, re-plan, retry), ``TRANSIENT`` codes are worth a jittered retry,
everything else fails at once.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    IrdriveOpsError,
    NotFoundError,
    TransientError,
    UnreachableError,
)

try:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )
except ImportError:  # pragma: no cover - AnsibleAWSModule reports the missing library
    BotoCoreError = ClientError = ConnectTimeoutError = Exception  # type: ignore[misc,assignment]
    EndpointConnectionError = NoCredentialsError = ReadTimeoutError = Exception  # type: ignore[misc,assignment]

CONFLICT = frozenset({"WAFOptimisticLockException", "NetworkAclEntryAlreadyExists"})
TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "WAFInternalErrorException",
        "WAFServiceLinkedRoleErrorException",
        "WAFUnavailableEntityException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
    }
)
AUTH = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
NOT_FOUND = frozenset(
    {
        "WAFNonexistentItemException",
        "InvalidNetworkAclID.NotFound",
        "InvalidNetworkAclEntry.NotFound",
    }
)
INVALID = frozenset(
    {
        "WAFInvalidParameterException",
        "InvalidParameterValue",
        "InvalidParameter",
        "ValidationException",
    }
)


def error_code(error: BaseException) -> str:
    response: dict[str, Any] = getattr(error, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def classify(error: BaseException, what: str) -> IrdriveOpsError:
    """The irdrive.ops error for a botocore exception raised while doing ``what``."""
    code = error_code(error)
    if isinstance(error, ClientError):
        message = str((error.response.get("Error") or {}).get("Message") or error)
        text = f"{what}: {code}: {message}"
        status = int((error.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        if code in CONFLICT:
            return ConflictError(text, aws_error=code)
        if code in TRANSIENT or status == 429 or status >= 500:
            return TransientError(text, aws_error=code)
        if code in AUTH or status in (401, 403):
            return AuthError(text, aws_error=code)
        if code in NOT_FOUND or code.endswith(".NotFound"):  # EC2: Invalid<Thing>.NotFound
            return NotFoundError(text, aws_error=code)
        if code in INVALID:
            return InvalidInputError(text, aws_error=code)
        return IrdriveOpsError(text, aws_error=code)
    if isinstance(error, NoCredentialsError):
        return AuthError(f"{what}: no AWS credentials found")
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        return UnreachableError(f"{what}: {error}")
    if isinstance(error, ReadTimeoutError):
        return TransientError(f"{what}: {error}")
    return IrdriveOpsError(f"{what}: {error}")


def call(what: str, method: Any, **kwargs: Any) -> Any:
    """``method(**kwargs)`` with botocore errors turned into irdrive.ops errors."""
    try:
        return method(**kwargs)
    except (ClientError, BotoCoreError) as error:
        raise classify(error, what) from error
