"""irdrive.ops.targets_present run as Ansible runs it, against moto's in-process AWS and the
fake Kubernetes API: present objects pass, every missing one is named in one bad-input line,
and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible_collections.irdrive.ops.plugins.modules import targets_present
from collection_fakes import FakeKubeApi

REGION = "us-east-1"


@pytest.fixture
def aws(mocked_aws: str) -> Iterator[dict[str, Any]]:
    route53 = boto3.client("route53", region_name=REGION)
    zone = route53.create_hosted_zone(Name="platform.com", CallerReference="t")["HostedZone"]
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="platform/api-key", SecretString="canary-value-never-returned")
    sm.create_secret(Name="platform/old-key", SecretString="x")
    sm.delete_secret(SecretId="platform/old-key", RecoveryWindowInDays=7)
    boto3.client("wafv2", region_name=REGION).create_ip_set(
        Name="blocked-ips", Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=[]
    )
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    nacl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    yield {"zone": zone["Id"], "nacl": nacl}


def test_present_objects_pass_and_nothing_is_returned_of_a_secret(
    run_module, aws: dict[str, Any], kube: FakeKubeApi, kube_args: dict[str, Any]
) -> None:
    kube.add("secrets", {"metadata": {"name": "db-credentials"}, "data": {"password": "c2VjcmV0"}})
    args = {
        **kube_args,
        "region": REGION,
        "hosted_zone_id": aws["zone"],
        "secrets": ["platform/api-key"],
        "waf_ip_sets": [{"name": "blocked-ips", "scope": "REGIONAL"}],
        "nacl_id": aws["nacl"],
        "namespace": "platform",
        "k8s_secrets": ["db-credentials"],
    }
    for check_mode in (False, True):
        result, failed = run_module(targets_present, args, check_mode=check_mode)
        assert not failed, result
        assert result["changed"] is False and result["missing"] == []
        assert len(result["present"]) == 5, result["present"]
    assert "canary-value-never-returned" not in repr(result) and "c2VjcmV0" not in repr(result)
    assert kube.writes() == []


def test_every_missing_object_is_named_in_one_bad_input_line(
    run_module, aws: dict[str, Any], kube: FakeKubeApi, kube_args: dict[str, Any]
) -> None:
    args = {
        **kube_args,
        "region": REGION,
        "hosted_zone_id": "/hostedzone/ZNOSUCHZONE",
        "secrets": ["platform/api-key", "platform/nosuch-key", "platform/old-key"],
        "waf_ip_sets": [{"name": "nosuch-set", "scope": "REGIONAL"}],
        "nacl_id": "acl-0000000000nosuch",
        "namespace": "platform",
        "k8s_secrets": ["nosuch-secret"],
    }
    result, failed = run_module(targets_present, args, check_mode=True)
    assert failed and result["error_kind"] == "invalid_input"
    assert result["missing"] == [
        "Route53 hosted zone /hostedzone/ZNOSUCHZONE does not exist",
        "Secrets Manager secret platform/nosuch-key does not exist",
        "Secrets Manager secret platform/old-key is scheduled for deletion",
        "WAF IP set nosuch-set (REGIONAL) does not exist",
        "network ACL acl-0000000000nosuch does not exist",
        "Kubernetes Secret platform/nosuch-secret does not exist",
    ]
    assert result["present"] == ["Secrets Manager secret platform/api-key"]
    assert "\n" not in result["msg"] and result["msg"].endswith("nothing was changed")
    assert kube.writes() == []


def test_no_kubernetes_connection_without_k8s_secrets(run_module, aws: dict[str, Any]) -> None:
    # No cluster options at all: a runbook that reads only AWS objects needs no kubeconfig.
    args = {"region": REGION, "secrets": ["platform/api-key"], "host": None}
    result, failed = run_module(targets_present, args)
    assert not failed, result


def test_refused_credentials_are_not_bad_input(run_module, aws: dict[str, Any]) -> None:
    from ansible_collections.irdrive.ops.plugins.module_utils import targets_present as utils
    from ansible_collections.irdrive.ops.plugins.module_utils.errors import AuthError

    class Refusing:
        def describe_secret(self, **_: Any) -> dict[str, Any]:
            raise AuthError("describing secret platform/api-key: AccessDeniedException: no")

    with pytest.raises(AuthError):
        utils.check(
            utils.Wanted(secrets=["platform/api-key"]), lambda _service: Refusing(), lambda: None
        )
