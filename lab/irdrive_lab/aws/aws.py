"""The lab's AWS: moto behind the journal (``irdrive_lab.aws.server``), seeded with the platform.

``start`` only spawns the server, which binds at once and seeds itself in the background, so
the lab's other parts start meanwhile; ``wait_ready`` waits for the seed and copies the ids of
the seeded resources into the component record under ``resources``. boto3 is imported only
when a function needs it.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from irdrive_lab.control import proc
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.credentials import app_secret, processor_api_keys
from irdrive_lab.control.errors import LabError

REGION = "us-east-1"
# moto accepts any credentials; these are the lab's fake account.
ACCESS_KEY_ID = "AKIAIRDRIVELAB0000001"
SECRET_ACCESS_KEY = "irdrive-lab-fake-secret-access-key"
# Header the lab's own clients add so the server journals their calls as source "lab".
LAB_HEADER = "X-Irdrive-Lab"

ZONE_NAME = "platform.com"
BACKUP_CDN_HOSTNAME = "platform.backup-cdn.net"
ORIGIN_HOSTNAME = "origin.platform.com"
API_ADDRESS = "192.0.2.10"  # documentation range: moto data only, never contacted
WAF_BLOCKED_SAMPLE = "203.0.113.66/32"  # documentation range
VPC_CIDR = "10.0.0.0/16"
EVIDENCE_BUCKET = "platform-evidence"
# The runbooks' AWS target locks (irdrive.ops.s3_lock): objects under LOCK_PREFIX, which the
# journal marks lock: true like Lease writes.
LOCK_BUCKET = "platform-irdrive-locks"
LOCK_PREFIX = "irdrive-locks/"
IAM_USER = "platform-deployer"
SECRET_NAMES = ("platform/db-password", "platform/ccbill-api-key", "platform/segpay-api-key")


def resources_file(cfg: LabConfig) -> Path:
    return cfg.run_dir / "aws-resources.json"


def endpoint_of(cfg: LabConfig) -> str:
    return f"http://127.0.0.1:{cfg.port('aws')}"


# ---- component interface -------------------------------------------------------------------
def start(cfg: LabConfig, ctx: dict[str, Any]) -> dict[str, Any]:
    port = cfg.port("aws")
    if proc.port_in_use(port):
        raise LabError(f"AWS port {port} on 127.0.0.1 is already in use")
    cfg.ensure_dirs()
    resources_file(cfg).unlink(missing_ok=True)
    record = proc.spawn(
        "aws",
        [
            sys.executable,
            "-m",
            "irdrive_lab.aws.server",
            "--dir",
            str(cfg.dir),
            "--port",
            str(port),
        ],
        cfg.logs_dir,
    )
    return {
        "endpoint": endpoint_of(cfg),
        "region": REGION,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "procs": [record],
    }


def wait_ready(cfg: LabConfig, info: dict[str, Any], timeout: float) -> None:
    """Wait for the server and its seed; add ``resources`` (the seeded ids) to ``info``."""
    deadline = time.monotonic() + timeout
    path = resources_file(cfg)
    while time.monotonic() < deadline:
        if not all(proc.is_alive(p) for p in info.get("procs", [])):
            raise LabError(f"the AWS server exited during start; see {cfg.logs_dir / 'aws.log'}")
        if path.exists():
            seeded = json.loads(path.read_text())
            if not seeded.get("ok"):
                raise LabError(f"seeding AWS failed: {seeded.get('error')}")
            info["resources"] = seeded["resources"]
            info["seed_seconds"] = seeded.get("seconds")
            return
        time.sleep(0.05)
    raise LabError(f"the AWS server was not seeded within {timeout:.0f}s")


def health(cfg: LabConfig, info: dict[str, Any]) -> tuple[bool, str]:
    url = f"{info.get('endpoint', endpoint_of(cfg))}/moto-api/config"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            ok = 200 <= resp.status < 300
    except (OSError, urllib.error.URLError) as exc:
        return False, f"AWS endpoint unreachable: {exc}"
    if not ok:
        return False, "AWS endpoint answered an error"
    if "resources" not in info and not resources_file(cfg).exists():
        return False, "AWS endpoint up, not seeded yet"
    return True, f"moto on {info.get('endpoint', endpoint_of(cfg))}"


def stop(cfg: LabConfig, info: dict[str, Any]) -> None:
    for record in info.get("procs", []):
        proc.stop(record)


def reseed(cfg: LabConfig, info: dict[str, Any]) -> None:
    """Reset moto to empty and seed again; ``info['resources']`` gets the new ids."""
    endpoint = info.get("endpoint", endpoint_of(cfg))
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            if resp.status != 200:
                raise LabError(f"moto reset answered HTTP {resp.status}")
    except (OSError, urllib.error.URLError) as exc:
        raise LabError(f"cannot reset the AWS endpoint {endpoint}: {exc}") from exc
    resources = seed(endpoint, app_secret(cfg), processor_api_keys(cfg))
    path = resources_file(cfg)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"ok": True, "resources": resources}, indent=2, sort_keys=True))
    tmp.replace(path)
    info["resources"] = resources


# ---- clients ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def client(endpoint: str, service: str, lab: bool = False) -> Any:
    """A boto3 client for the lab endpoint; ``lab=True`` marks its writes as the lab's own.

    One per endpoint, service and kind for the process (boto3 clients are thread-safe): making
    one loads and parses the service's model, seconds of CPU for ec2 on a busy machine, and a
    process that resets the lab again and again (the test suite) paid it on every reset."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )
    c = session.client(
        service,
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5),
    )
    if lab:

        def mark(request: Any, **_: Any) -> None:
            request.headers[LAB_HEADER] = "seed"

        c.meta.events.register("before-send.*.*", mark)
    return c


# ---- seed ---------------------------------------------------------------------------------
def seed(
    endpoint: str, db_secret: dict[str, Any], api_keys: dict[str, str] | None = None
) -> dict[str, Any]:
    """Create the platform's AWS resources; return their ids. Independent groups run at once.

    ``db_secret`` is the application's database login (``credentials.app_secret``), ``api_keys``
    the payment processors' API keys (``credentials.processor_api_keys``).
    """
    with ThreadPoolExecutor(max_workers=4) as pool:
        dns = pool.submit(_seed_cdn_and_dns, endpoint)
        waf = pool.submit(_seed_waf, endpoint)
        net = pool.submit(_seed_network, endpoint)
        rest = pool.submit(_seed_secrets_s3_iam, endpoint, db_secret, api_keys or {})
        resources: dict[str, Any] = {}
        for future in (dns, waf, net, rest):
            resources.update(future.result())
    return resources


def _seed_cdn_and_dns(endpoint: str) -> dict[str, Any]:
    cloudfront = client(endpoint, "cloudfront", lab=True)
    dist = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "irdrive-lab-platform-cdn",
            "Comment": "platform video CDN",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "platform-origin",
                        "DomainName": ORIGIN_HOSTNAME,
                        "CustomOriginConfig": {
                            "HTTPPort": 80,
                            "HTTPSPort": 443,
                            "OriginProtocolPolicy": "https-only",
                        },
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "platform-origin",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )["Distribution"]

    route53 = client(endpoint, "route53", lab=True)
    zone = route53.create_hosted_zone(
        Name=ZONE_NAME,
        CallerReference="irdrive-lab-platform-zone",
        HostedZoneConfig={"Comment": "platform public zone", "PrivateZone": False},
    )["HostedZone"]
    zone_id = zone["Id"].rsplit("/", 1)[-1]

    def upsert(name: str, rtype: str, value: str, ttl: int) -> dict[str, Any]:
        return {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": name,
                "Type": rtype,
                "TTL": ttl,
                "ResourceRecords": [{"Value": value}],
            },
        }

    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Comment": "irdrive lab seed",
            "Changes": [
                upsert(f"cdn.{ZONE_NAME}", "CNAME", dist["DomainName"], 60),
                upsert(f"cdn-backup.{ZONE_NAME}", "CNAME", BACKUP_CDN_HOSTNAME, 60),
                upsert(f"api.{ZONE_NAME}", "A", API_ADDRESS, 300),
            ],
        },
    )
    return {
        "hosted_zone_id": zone_id,
        "hosted_zone_name": ZONE_NAME,
        "cdn_record": f"cdn.{ZONE_NAME}",
        "backup_cdn_hostname": BACKUP_CDN_HOSTNAME,
        "distribution_id": dist["Id"],
        "distribution_domain": dist["DomainName"],
    }


def _seed_waf(endpoint: str) -> dict[str, Any]:
    wafv2 = client(endpoint, "wafv2", lab=True)
    summary = wafv2.create_ip_set(
        Name="blocked-ips",
        Scope="REGIONAL",
        IPAddressVersion="IPV4",
        Addresses=[WAF_BLOCKED_SAMPLE],
        Description="addresses blocked by incident response",
    )["Summary"]
    return {
        "waf_ip_set": {
            "name": summary["Name"],
            "id": summary["Id"],
            "scope": "REGIONAL",
            "arn": summary["ARN"],
        }
    }


def _seed_network(endpoint: str) -> dict[str, Any]:
    ec2 = client(endpoint, "ec2", lab=True)

    def tags(resource: str, name: str) -> list[dict[str, Any]]:
        return [{"ResourceType": resource, "Tags": [{"Key": "Name", "Value": name}]}]

    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=tags("vpc", "platform"))["Vpc"][
        "VpcId"
    ]
    nacl_id = ec2.create_network_acl(
        VpcId=vpc_id, TagSpecifications=tags("network-acl", "platform-nacl")
    )["NetworkAcl"]["NetworkAclId"]
    sg_id = ec2.create_security_group(
        GroupName="platform-web-sg",
        Description="platform web tier",
        VpcId=vpc_id,
        TagSpecifications=tags("security-group", "platform-web-sg"),
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "HTTPS from anywhere"}],
            }
        ],
    )
    return {"vpc_id": vpc_id, "nacl_id": nacl_id, "security_group_id": sg_id}


def _seed_secrets_s3_iam(
    endpoint: str, db_secret: dict[str, Any], api_keys: dict[str, str]
) -> dict[str, Any]:
    secrets = client(endpoint, "secretsmanager", lab=True)
    values = {
        "platform/db-password": json.dumps(db_secret),
        "platform/ccbill-api-key": api_keys.get("ccbill", "lab-ccbill-api-key"),
        "platform/segpay-api-key": api_keys.get("segpay", "lab-segpay-api-key"),
    }
    arns = {}
    for name in SECRET_NAMES:
        arns[name] = secrets.create_secret(Name=name, SecretString=values[name])["ARN"]

    s3 = client(endpoint, "s3", lab=True)
    s3.create_bucket(Bucket=EVIDENCE_BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_bucket_versioning(Bucket=EVIDENCE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(
        Bucket=EVIDENCE_BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )

    s3.create_bucket(Bucket=LOCK_BUCKET)

    iam = client(endpoint, "iam", lab=True)
    iam.create_user(UserName=IAM_USER)
    key = iam.create_access_key(UserName=IAM_USER)["AccessKey"]
    return {
        "secrets": {name: arns[name] for name in SECRET_NAMES},
        "bucket": EVIDENCE_BUCKET,
        "lock_bucket": LOCK_BUCKET,
        "iam_user": {"name": IAM_USER, "access_key_id": key["AccessKeyId"]},
    }
