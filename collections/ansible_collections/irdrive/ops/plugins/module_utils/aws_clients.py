# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""boto3 clients for irdrive.ops modules, and botocore errors sorted into ``errors``.

Clients use botocore's ``standard`` retry mode (bounded, jittered, throttling and 5xx only),
so a transient AWS error is retried there and a permanent one fails at once. The matching
doc fragment is ``irdrive.ops.aws_conn``; the options are ``args_common.AWS_ARG_SPEC``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    IrdriveOpsError,
    MissingLibrary,
    NotFoundError,
    TransientError,
    UnreachableError,
)

try:
    import boto3
    import botocore.config
    import botocore.exceptions

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR: str | None = None
except ImportError as _import_error:  # AwsConn.client raises MissingLibrary
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = str(_import_error)


# Which AWS error codes count as what, named once for every module. CONFLICT codes are
# optimistic-concurrency losses or existing objects (re-read, re-plan), TRANSIENT ones are worth
# a retry (botocore's standard mode already retried them), the rest fail at once.
AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NotFoundException",
        "NoSuchBucket",
        "NoSuchKey",
        "404",  # HeadObject answers with the bare status as its code
        "WAFNonexistentItemException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "Unavailable",
        "InternalError",
        "InternalFailure",
        "InternalServiceError",
        "InternalServiceErrorException",
        "PriorRequestNotComplete",  # Route53: the zone's previous change is still applying
        "ServiceFailure",
        "WAFInternalErrorException",
        "WAFServiceLinkedRoleErrorException",
        "WAFUnavailableEntityException",
    }
)
CONFLICT_CODES = frozenset(
    {
        "ResourceExistsException",
        "EntityAlreadyExists",
        "WAFOptimisticLockException",
        "NetworkAclEntryAlreadyExists",
    }
)
INVALID_CODES = frozenset({"WAFInvalidParameterException", "LimitExceeded"})


@dataclass
class AwsConn:
    """The connection options of the ``irdrive.ops.aws_conn`` doc fragment (``AWS_KEYS``)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None

    def client(self, service: str, **overrides: Any) -> Any:
        """A boto3 client with the ``standard`` retry mode; ``overrides`` replace credentials.

        Raises MissingLibrary when boto3 is not installed.
        """
        if BOTO3_IMPORT_ERROR is not None:
            raise MissingLibrary("boto3", "to talk to AWS", BOTO3_IMPORT_ERROR)
        session = boto3.session.Session(profile_name=self.profile) if self.profile else boto3
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=5,
            read_timeout=30,
        )
        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "aws_session_token": self.session_token,
            "config": config,
        }
        kwargs.update(overrides)
        return session.client(service, **{k: v for k, v in kwargs.items() if v is not None})


def warm(services: tuple[str, ...]) -> None:
    """Read what a first client costs (endpoint data, ``services``' models: about 0.15 s) into
    boto3's default session, without credentials or a network call.

    For ``plugin_utils.in_process.preload``, in the parent of the workers that run the tasks:
    each worker forked after it inherits the session, and its client of any service then costs
    a few milliseconds. Clients are still made in the worker, with the task's own credentials.
    """
    if BOTO3_IMPORT_ERROR is not None:
        return
    for service in services:
        boto3.client(
            service,
            region_name="us-east-1",
            aws_access_key_id="warm",
            aws_secret_access_key="warm",  # noqa: S106 - a placeholder; the client is never used
        )


def error_code(error: BaseException) -> str:
    if HAS_BOTO3 and isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def translate_error(error: BaseException, what: str) -> IrdriveOpsError:
    """Map a botocore exception to ``errors`` (the message never carries request parameters)."""
    if not HAS_BOTO3:  # then nothing botocore raised reaches here
        return IrdriveOpsError(f"{what}: {error}")
    if isinstance(error, botocore.exceptions.ClientError):
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "") or code
        status = int((error.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        text = f"{what}: {code}: {message}"
        if code in CONFLICT_CODES:
            return ConflictError(text, aws_error=code)
        if code in TRANSIENT_CODES or status == 429 or status >= 500:
            return TransientError(text, aws_error=code)
        if code in AUTH_CODES or status in (401, 403):
            return AuthError(text, aws_error=code)
        # EC2: Invalid<Thing>.NotFound; HEAD requests carry no error body, only the status
        if code in NOT_FOUND_CODES or code.endswith(".NotFound") or status == 404:
            return NotFoundError(text, aws_error=code)
        if code in INVALID_CODES or code.startswith(("Invalid", "Validation")):
            return InvalidInputError(text, aws_error=code)
        return IrdriveOpsError(text, aws_error=code)
    if isinstance(
        error,
        (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError),
    ):
        return UnreachableError(f"{what}: cannot reach AWS: {error}")
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return AuthError(f"{what}: no AWS credentials found")
    if isinstance(error, botocore.exceptions.NoRegionError):
        return InvalidInputError(f"{what}: no AWS region given (region or AWS_REGION)")
    if isinstance(error, botocore.exceptions.ParamValidationError):
        return InvalidInputError(f"{what}: {error}")
    if isinstance(error, botocore.exceptions.BotoCoreError):
        return TransientError(f"{what}: {error}")
    return IrdriveOpsError(f"{what}: {error}")


def call(what: str, method: Any, **kwargs: Any) -> Any:
    """``method(**kwargs)`` with botocore errors translated (botocore already retried)."""
    try:
        return method(**kwargs)
    except Exception as error:  # botocore raises many types; translate_error sorts them
        if isinstance(error, IrdriveOpsError):
            raise
        raise translate_error(error, what) from error
