"""Fixtures for the irdrive.ops collection's unit tests.

Puts ``collections/`` on sys.path so ``ansible_collections.irdrive.ops`` imports; ``run_module``
(module_harness) runs a module the standard way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from collection_fakes import COLLECTIONS, TOKEN, FakeKubeApi

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from module_harness import kube, run_module  # noqa: E402,F401 - the fixtures


@pytest.fixture
def kube_args(kube: FakeKubeApi) -> dict[str, Any]:  # noqa: F811 - the fixture, by name
    """Module options pointing at the fake API with the right token."""
    return {"host": kube.url, "api_key": TOKEN, "request_timeout": 5.0}


AWS_REGION = "us-east-1"


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's in-memory AWS, with test credentials in the environment; yields the region."""
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": AWS_REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield AWS_REGION
