"""irdrive.ops.route53_record and irdrive.ops.cloudfront_info run as Ansible runs them (both
ways: the module harness and the in-process runner) against moto's in-memory AWS: read, UPSERT
with its prior state, check mode and idempotence write nothing, INSYNC waited for, clear errors,
only transient errors retried."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import route53
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    DeadlineExceeded,
    InvalidInputError,
)
from ansible_collections.irdrive.ops.plugins.modules import cloudfront_info, route53_record
from botocore.exceptions import ClientError

PRIMARY = "d111111abcdef8.cloudfront.net"
BACKUP = "platform.backup-cdn.net"


@pytest.fixture
def zone(mocked_aws: str) -> Iterator[dict[str, Any]]:
    client = boto3.client("route53", region_name=mocked_aws)
    zone_id = client.create_hosted_zone(Name="platform.com", CallerReference="t")["HostedZone"][
        "Id"
    ]
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "cdn.platform.com",
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": PRIMARY + "."}],
                    },
                }
            ]
        },
    )
    yield {"client": client, "zone": zone_id, "region": mocked_aws}


def changes(z: dict[str, Any]) -> list[str]:
    """The CNAME values of cdn.platform.com as moto holds them."""
    sets = z["client"].list_resource_record_sets(HostedZoneId=z["zone"])["ResourceRecordSets"]
    return [
        r["Value"]
        for s in sets
        if s["Name"] == "cdn.platform.com." and s["Type"] == "CNAME"
        for r in s["ResourceRecords"]
    ]


def args(z: dict[str, Any], **extra: Any) -> dict[str, Any]:
    base = {"region": z["region"], "hosted_zone_id": z["zone"], "name": "cdn.platform.com"}
    return {**base, **extra}


def test_read_returns_the_record_in_both_shapes_and_misses_as_null(run_module, zone) -> None:
    result, failed = run_module(route53_record, args(zone, state="read"))
    assert not failed, result
    assert result["changed"] is False
    assert result["record"] == {
        "name": "cdn.platform.com",
        "type": "CNAME",
        "ttl": 60,
        "values": [PRIMARY + "."],
    }
    assert result["resource_record_sets"] == [
        {
            "name": "cdn.platform.com.",
            "type": "CNAME",
            "ttl": 60,
            "resource_records": [{"value": PRIMARY + "."}],
        }
    ]
    missing, failed = run_module(
        route53_record, args(zone, state="read", name="cdn-backup.platform.com")
    )
    assert not failed and missing["record"] is None and missing["resource_record_sets"] == []


def test_upsert_check_mode_then_real_then_idempotent(run_module, zone) -> None:
    wanted = args(zone, value=[BACKUP.upper() + "."], ttl=60, wait_sleep=0.1, wait_timeout=5)
    planned, failed = run_module(route53_record, wanted, check_mode=True, diff=True)
    assert not failed, planned
    assert planned["changed"] is True and "change_id" not in planned
    assert planned["before"]["values"] == [PRIMARY + "."]
    assert planned["after"]["values"] == [BACKUP]
    assert planned["diff"] == {"before": planned["before"], "after": planned["after"]}
    assert changes(zone) == [PRIMARY + "."]  # check mode wrote nothing

    done, failed = run_module(route53_record, wanted)
    assert not failed, done
    assert done["changed"] is True and done["change_status"] == "INSYNC"
    assert done["before"] == planned["before"] and done["record"]["values"] == [BACKUP]
    assert [v.rstrip(".") for v in changes(zone)] == [BACKUP]

    again, failed = run_module(route53_record, wanted)
    assert not failed and again["changed"] is False and "change_id" not in again
    assert again["before"] == again["after"]


def test_ttl_alone_is_a_change(run_module, zone) -> None:
    result, failed = run_module(route53_record, args(zone, value=[PRIMARY], ttl=300))
    assert not failed and result["changed"] is True
    assert (result["before"]["ttl"], result["after"]["ttl"]) == (60, 300)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"value": ["a.example", "b.example"]}, "one value"),
        ({"value": ["a.example"], "ttl": -1}, "ttl must be"),
        ({"hosted_zone_id": "/hostedzone/ZNOSUCHZONE", "value": ["a.example"]}, "ZNOSUCHZONE"),
        ({}, "needs value"),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(run_module, zone, extra, words) -> None:
    result, failed = run_module(route53_record, {**args(zone), **extra})
    assert failed and words in result["msg"], result
    assert result["error_kind"] in ("invalid_input", "not_found")
    assert changes(zone) == [PRIMARY + "."]


class FlakyRoute53:
    """A Route53 client answering scripted errors before moto's real answers."""

    def __init__(self, real: Any, fail_with: list[str], statuses: list[str]) -> None:
        self.real, self.fail_with, self.statuses = real, list(fail_with), list(statuses)
        self.calls: list[str] = []

    def _maybe_fail(self, op: str) -> None:
        self.calls.append(op)
        if self.fail_with:
            code = self.fail_with.pop(0)
            status = 400 if code in ("InvalidInput", "PriorRequestNotComplete") else 503
            raise ClientError(
                {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op
            )

    def list_resource_record_sets(self, **kw: Any) -> Any:
        self._maybe_fail("ListResourceRecordSets")
        return self.real.list_resource_record_sets(**kw)

    def change_resource_record_sets(self, **kw: Any) -> Any:
        self._maybe_fail("ChangeResourceRecordSets")
        return self.real.change_resource_record_sets(**kw)

    def get_change(self, **kw: Any) -> Any:
        self.calls.append("GetChange")
        return {"ChangeInfo": {"Id": kw["Id"], "Status": self.statuses.pop(0)}}


def test_transient_errors_are_retried_and_permanent_ones_fail_at_once(zone) -> None:
    record = route53.RecordSet("cdn.platform.com", "CNAME", 60, [BACKUP])
    flaky = FlakyRoute53(zone["client"], ["ServiceUnavailable", "PriorRequestNotComplete"], [])
    records = route53.Route53Records(flaky, zone["zone"], sleep=lambda _: None)
    assert records.read("cdn.platform.com", "CNAME") is not None
    assert flaky.calls == ["ListResourceRecordSets"] * 3

    permanent = FlakyRoute53(zone["client"], ["InvalidInput"], [])
    with pytest.raises(InvalidInputError):
        route53.Route53Records(permanent, zone["zone"]).upsert(record)
    assert permanent.calls == ["ChangeResourceRecordSets"]


def test_the_wait_polls_getchange_until_insync_and_is_bounded(zone) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    flaky = FlakyRoute53(zone["client"], [], ["PENDING", "PENDING", "INSYNC"])
    records = route53.Route53Records(flaky, zone["zone"], sleep=sleep, clock=lambda: now[0])
    assert records.wait_insync("/change/C1", timeout=10, interval=1) > 0
    assert flaky.calls == ["GetChange"] * 3

    stuck = FlakyRoute53(zone["client"], [], ["PENDING"] * 100)
    records = route53.Route53Records(stuck, zone["zone"], sleep=sleep, clock=lambda: now[0])
    with pytest.raises(DeadlineExceeded):
        records.wait_insync("/change/C2", timeout=3, interval=1)
    assert 3 <= len(stuck.calls) < 10


def test_cloudfront_info_reads_the_distribution(run_module, mocked_aws: str) -> None:
    cloudfront = boto3.client("cloudfront", region_name=mocked_aws)
    dist = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "t",
            "Comment": "video",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "origin",
                        "DomainName": "origin.platform.com",
                        "CustomOriginConfig": {
                            "HTTPPort": 80,
                            "HTTPSPort": 443,
                            "OriginProtocolPolicy": "https-only",
                        },
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "origin",
                "ViewerProtocolPolicy": "allow-all",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )["Distribution"]
    result, failed = run_module(
        cloudfront_info, {"region": mocked_aws, "distribution_id": dist["Id"]}
    )
    assert not failed, result
    info = result["distribution"]
    assert result["changed"] is False
    assert info["id"] == dist["Id"] and info["enabled"] is True
    assert info["domain_name"] == dist["DomainName"].lower().rstrip(".")
    assert info["status"] == cloudfront.get_distribution(Id=dist["Id"])["Distribution"]["Status"]

    missing, failed = run_module(
        cloudfront_info, {"region": mocked_aws, "distribution_id": "ENOSUCHDIST"}
    )
    assert failed and missing["error_kind"] == "not_found" and "ENOSUCHDIST" in missing["msg"]
