# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""boto3 clients for irdrive.ops modules, and botocore errors sorted into ``errors``.

Clients use botocore's ``standard`` retry mode (bounded, jittered, throttling and 5xx only),
so a transient AWS error is retried there and a permanent one fails at once. The matching
doc fragment is ``irdrive.ops.aws_conn``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ansible.module_utils.common.parameters import env_fallback
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
    import boto3
    import botocore.config
    import botocore.exceptions

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR: str | None = None
except ImportError as _import_error:  # handled by the modules with missing_required_lib
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = str(_import_error)

AWS_ARG_SPEC: dict[str, dict[str, Any]] = {
    "endpoint_url": {
        "type": "str",
        "aliases": ["aws_endpoint_url"],
        "fallback": (env_fallback, ["AWS_URL", "AWS_ENDPOINT_URL"]),
    },
    "region": {
        "type": "str",
        "aliases": ["aws_region"],
        "fallback": (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"]),
    },
    "access_key": {
        "type": "str",
        "aliases": ["aws_access_key_id"],
        "no_log": False,
        "fallback": (env_fallback, ["AWS_ACCESS_KEY_ID"]),
    },
    "secret_key": {
        "type": "str",
        "aliases": ["aws_secret_access_key"],
        "no_log": True,
        "fallback": (env_fallback, ["AWS_SECRET_ACCESS_KEY"]),
    },
    "session_token": {
        "type": "str",
        "aliases": ["aws_session_token"],
        "no_log": True,
        "fallback": (env_fallback, ["AWS_SESSION_TOKEN"]),
    },
    "profile": {"type": "str", "aliases": ["aws_profile"]},
}
AWS_KEYS = tuple(AWS_ARG_SPEC)

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


def aws_argument_spec() -> dict[str, dict[str, Any]]:
    return copy.deepcopy(AWS_ARG_SPEC)


@dataclass
class AwsConn:
    """The connection options of the ``irdrive.ops.aws_conn`` doc fragment."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None

    def client(self, service: str, **overrides: Any) -> Any:
        """A boto3 client with the ``standard`` retry mode; ``overrides`` replace credentials."""
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


def error_code(error: BaseException) -> str:
    if HAS_BOTO3 and isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def translate_error(error: BaseException, what: str) -> IrdriveOpsError:
    """Map a botocore exception to ``errors`` (the message never carries request parameters)."""
    if HAS_BOTO3 and isinstance(error, botocore.exceptions.ClientError):
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
    if HAS_BOTO3 and isinstance(
        error,
        (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError),
    ):
        return UnreachableError(f"{what}: cannot reach AWS: {error}")
    if HAS_BOTO3 and isinstance(error, botocore.exceptions.NoCredentialsError):
        return AuthError(f"{what}: no AWS credentials found")
    if HAS_BOTO3 and isinstance(error, botocore.exceptions.NoRegionError):
        return InvalidInputError(f"{what}: no AWS region given (region or AWS_REGION)")
    if HAS_BOTO3 and isinstance(error, botocore.exceptions.ParamValidationError):
        return InvalidInputError(f"{what}: {error}")
    if HAS_BOTO3 and isinstance(error, botocore.exceptions.BotoCoreError):
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
