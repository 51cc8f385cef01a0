"""The lab's AWS part: moto behind the journal, seeded with the platform's resources."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ports import port_base
from helpers import wait_until

from irdrive_lab.aws import aws
from irdrive_lab.control import proc
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabError
from irdrive_lab.control.journal import Journal


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabConfig, dict[str, Any]]]:
    cfg = LabConfig(dir=Path(tmp_path_factory.mktemp("aws-lab")), port_base=port_base(1))
    started = time.monotonic()
    info = aws.start(cfg, {})
    try:
        aws.wait_ready(cfg, info, timeout=60)
        print(f"aws start+seed: {time.monotonic() - started:.2f}s")
        yield cfg, info
    finally:
        aws.stop(cfg, info)


def test_seeded_resources_exist(lab: tuple[LabConfig, dict[str, Any]]) -> None:
    cfg, info = lab
    res = info["resources"]
    endpoint = info["endpoint"]

    route53 = aws.client(endpoint, "route53")
    records = route53.list_resource_record_sets(HostedZoneId=res["hosted_zone_id"])
    by_name = {r["Name"]: r for r in records["ResourceRecordSets"]}
    cdn = by_name["cdn.platform.com."]
    assert cdn["Type"] == "CNAME" and cdn["TTL"] == 60
    assert cdn["ResourceRecords"] == [{"Value": res["distribution_domain"]}]
    assert by_name["cdn-backup.platform.com."]["ResourceRecords"] == [
        {"Value": aws.BACKUP_CDN_HOSTNAME}
    ]
    assert by_name["api.platform.com."]["Type"] == "A"

    dist = aws.client(endpoint, "cloudfront").get_distribution(Id=res["distribution_id"])
    config = dist["Distribution"]["DistributionConfig"]
    assert config["Comment"] == "platform video CDN"
    assert config["Origins"]["Items"][0]["DomainName"] == "origin.platform.com"

    waf = res["waf_ip_set"]
    ip_set = aws.client(endpoint, "wafv2").get_ip_set(
        Name=waf["name"], Scope=waf["scope"], Id=waf["id"]
    )
    assert ip_set["IPSet"]["Name"] == "blocked-ips"

    ec2 = aws.client(endpoint, "ec2")
    vpc = ec2.describe_vpcs(VpcIds=[res["vpc_id"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    acl = ec2.describe_network_acls(NetworkAclIds=[res["nacl_id"]])["NetworkAcls"][0]
    assert {"Key": "Name", "Value": "platform-nacl"} in acl["Tags"]
    group = ec2.describe_security_groups(GroupIds=[res["security_group_id"]])["SecurityGroups"][0]
    assert group["GroupName"] == "platform-web-sg"
    assert any(p.get("FromPort") == 443 for p in group["IpPermissions"])

    secrets = aws.client(endpoint, "secretsmanager")
    db = json.loads(secrets.get_secret_value(SecretId="platform/db-password")["SecretString"])
    assert set(db) == {"username", "password"}
    names = {s["Name"] for s in secrets.list_secrets()["SecretList"]}
    assert set(aws.SECRET_NAMES) <= names

    s3 = aws.client(endpoint, "s3")
    lock = s3.get_object_lock_configuration(Bucket="platform-evidence")["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("GOVERNANCE", 1)
    assert s3.get_bucket_versioning(Bucket="platform-evidence")["Status"] == "Enabled"

    keys = aws.client(endpoint, "iam").list_access_keys(UserName="platform-deployer")
    assert [k["AccessKeyId"] for k in keys["AccessKeyMetadata"]] == [
        res["iam_user"]["access_key_id"]
    ]
    assert aws.health(cfg, info)[0]


def test_journal_records_writes_not_reads(lab: tuple[LabConfig, dict[str, Any]]) -> None:
    cfg, info = lab
    journal = Journal(cfg.journal_file)
    # The seed is the lab's own work: journaled as source "lab", never as "aws".
    assert not [e for e in journal.entries() if e["source"] == "aws"]
    mark = journal.mark()

    secrets = aws.client(info["endpoint"], "secretsmanager")
    secrets.get_secret_value(SecretId="platform/ccbill-api-key")
    secrets.list_secrets()
    aws.client(info["endpoint"], "ec2").describe_vpcs()
    aws.client(info["endpoint"], "s3").list_objects_v2(Bucket="platform-evidence")
    route53 = aws.client(info["endpoint"], "route53")
    route53.list_resource_record_sets(HostedZoneId=info["resources"]["hosted_zone_id"])
    assert journal.since(mark) == []

    secrets.put_secret_value(SecretId="platform/ccbill-api-key", SecretString="canary-value-1")
    aws.client(info["endpoint"], "s3").put_object(
        Bucket="platform-evidence", Key="evidence/a.txt", Body=b"x"
    )
    aws.client(info["endpoint"], "ec2").create_tags(
        Resources=[info["resources"]["vpc_id"]], Tags=[{"Key": "k", "Value": "v"}], DryRun=False
    )
    entries = journal.since(mark, source="aws")
    assert [(e["service"], e["action"]) for e in entries] == [
        ("secretsmanager", "PutSecretValue"),
        ("s3", "PutObject"),
        ("ec2", "CreateTags"),
    ]
    assert all(e["status"] == 200 for e in entries)
    assert entries[0]["body_sha256"].startswith("sha256:")
    assert "canary-value-1" not in cfg.journal_file.read_text()


def test_route53_change_reaches_insync(lab: tuple[LabConfig, dict[str, Any]]) -> None:
    _, info = lab
    route53 = aws.client(info["endpoint"], "route53")
    change = route53.change_resource_record_sets(
        HostedZoneId=info["resources"]["hosted_zone_id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": "probe.platform.com",
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": aws.BACKUP_CDN_HOSTNAME}],
                    },
                }
            ]
        },
    )["ChangeInfo"]
    assert change["Status"] in ("PENDING", "INSYNC")
    wait_until(
        lambda: route53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC",
        timeout=10,
        interval=0.2,
        what="GetChange to say INSYNC",
    )


def test_waf_stale_lock_token_is_rejected(lab: tuple[LabConfig, dict[str, Any]]) -> None:
    _, info = lab
    waf = info["resources"]["waf_ip_set"]
    wafv2 = aws.client(info["endpoint"], "wafv2")
    current = wafv2.get_ip_set(Name=waf["name"], Scope=waf["scope"], Id=waf["id"])
    stale = current["LockToken"]
    addresses = current["IPSet"]["Addresses"]
    wafv2.update_ip_set(
        Name=waf["name"],
        Scope=waf["scope"],
        Id=waf["id"],
        Addresses=[*addresses, "198.51.100.7/32"],
        LockToken=stale,
    )
    with pytest.raises(wafv2.exceptions.WAFOptimisticLockException):
        wafv2.update_ip_set(
            Name=waf["name"],
            Scope=waf["scope"],
            Id=waf["id"],
            Addresses=[*addresses, "198.51.100.8/32"],
            LockToken=stale,
        )
    after = wafv2.get_ip_set(Name=waf["name"], Scope=waf["scope"], Id=waf["id"])
    assert "198.51.100.7/32" in after["IPSet"]["Addresses"]
    assert "198.51.100.8/32" not in after["IPSet"]["Addresses"]


def test_reseed_restores_the_seeded_state(lab: tuple[LabConfig, dict[str, Any]]) -> None:
    cfg, info = lab
    endpoint = info["endpoint"]
    secrets = aws.client(endpoint, "secretsmanager")
    secrets.delete_secret(SecretId="platform/segpay-api-key", ForceDeleteWithoutRecovery=True)
    aws.client(endpoint, "iam").create_user(UserName="intruder")

    aws.reseed(cfg, info)

    names = {s["Name"] for s in secrets.list_secrets()["SecretList"]}
    assert names == set(aws.SECRET_NAMES)
    users = {u["UserName"] for u in aws.client(endpoint, "iam").list_users()["Users"]}
    assert users == {"platform-deployer"}
    zones = aws.client(endpoint, "route53").list_hosted_zones()["HostedZones"]
    assert [z["Name"] for z in zones] == ["platform.com."]
    assert zones[0]["Id"].endswith(info["resources"]["hosted_zone_id"])
    resets = [e for e in Journal(cfg.journal_file).entries() if e["path"] == "/moto-api/reset"]
    assert resets and all(e["source"] == "lab" for e in resets)


def test_start_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    cfg = LabConfig(dir=tmp_path, port_base=port_base(2))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", cfg.port("aws")))
        sock.listen()
        with pytest.raises(LabError, match="already in use"):
            aws.start(cfg, {})


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path, port_base=port_base(3))
    info = aws.start(cfg, {})
    try:
        assert proc.wait_for_port(cfg.port("aws"), timeout=15)
    finally:
        aws.stop(cfg, info)
    assert not any(proc.is_alive(p) for p in info["procs"])
    assert not proc.port_in_use(cfg.port("aws"))
    aws.stop(cfg, info)  # idempotent
