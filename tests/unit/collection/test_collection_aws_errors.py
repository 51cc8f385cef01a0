"""module_utils.aws_clients.translate_error: one table of AWS error codes for every module."""

from __future__ import annotations

import botocore.exceptions
import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import aws_clients
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    IrdriveOpsError,
    NotFoundError,
    TransientError,
    UnreachableError,
)


def client_error(code: str, status: int = 400) -> botocore.exceptions.ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("WAFOptimisticLockException", 400, ConflictError),
        ("NetworkAclEntryAlreadyExists", 400, ConflictError),
        ("ResourceExistsException", 400, ConflictError),
        ("ThrottlingException", 400, TransientError),
        ("WAFInternalErrorException", 500, TransientError),
        ("SomethingNew", 503, TransientError),
        ("SomethingNew", 429, TransientError),
        ("AccessDeniedException", 400, AuthError),
        ("SomethingNew", 403, AuthError),
        ("InvalidNetworkAclID.NotFound", 400, NotFoundError),
        ("WAFNonexistentItemException", 400, NotFoundError),
        ("ResourceNotFoundException", 400, NotFoundError),
        ("NoSuchBucket", 404, NotFoundError),
        ("404", 404, NotFoundError),  # HeadObject: no error body, only the status
        ("InvalidAccessKeyId", 403, AuthError),
        ("WAFInvalidParameterException", 400, InvalidInputError),
        ("InvalidParameterValue", 400, InvalidInputError),
        ("ValidationException", 400, InvalidInputError),
        ("SomethingNew", 400, IrdriveOpsError),
    ],
)
def test_client_errors_are_sorted_by_code_then_status(code: str, status: int, kind: type) -> None:
    error = aws_clients.translate_error(client_error(code, status), "updating WAF IP set x")
    assert type(error) is kind
    assert str(error) == f"updating WAF IP set x: {code}: {code} happened"
    assert error.details.get("aws_error") == code


def test_transport_errors() -> None:
    unreachable = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert type(aws_clients.translate_error(unreachable, "x")) is UnreachableError
    bad = botocore.exceptions.ParamValidationError(report="Missing required parameter")
    assert type(aws_clients.translate_error(bad, "x")) is InvalidInputError
    assert type(aws_clients.translate_error(botocore.exceptions.NoCredentialsError(), "x")) is (
        AuthError
    )
    read = botocore.exceptions.ReadTimeoutError(endpoint_url="http://aws")
    assert type(aws_clients.translate_error(read, "x")) is TransientError


def test_call_translates_and_passes_ours_through() -> None:
    def boom(**_: object) -> None:
        raise client_error("WAFOptimisticLockException")

    with pytest.raises(ConflictError, match="updating: WAFOptimisticLockException"):
        aws_clients.call("updating", boom)

    def ours(**_: object) -> None:
        raise NotFoundError("already ours")

    with pytest.raises(NotFoundError, match="already ours"):
        aws_clients.call("x", ours)
