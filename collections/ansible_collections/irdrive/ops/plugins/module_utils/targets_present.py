# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Read that the objects a runbook will change exist, before its first write.

A runbook's preflight names what it depends on (a hosted zone, secrets, a WAF IP set, a network
ACL, Kubernetes Secrets); ``check`` reads each one once and sorts it into present or missing.
Only "does not exist" counts as missing: any other failure (credentials refused, an API that
does not answer) is raised as it is, so it is never reported as bad input. Nothing is written,
and no secret value is kept or returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils import aws_clients
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    IrdriveOpsError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.waf import IpSetRef, WafIpSetClient

#: Route53 answers a missing zone with this code (and HTTP 404).
NO_SUCH_ZONE = "NoSuchHostedZone"


@dataclass
class Wanted:
    """What the runbook depends on; empty fields are not read."""

    hosted_zone_id: str = ""
    secrets: list[str] = field(default_factory=list)
    waf_ip_sets: list[dict[str, Any]] = field(default_factory=list)
    nacl_id: str = ""
    namespace: str = ""
    k8s_secrets: list[str] = field(default_factory=list)

    @property
    def services(self) -> set[str]:
        """The AWS services the reads need a client of."""
        needed = {
            "route53": bool(self.hosted_zone_id),
            "secretsmanager": bool(self.secrets),
            "wafv2": bool(self.waf_ip_sets),
            "ec2": bool(self.nacl_id),
        }
        return {service for service, wanted in needed.items() if wanted}


@dataclass
class Found:
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def read(self, what: str, reader: Callable[[], str]) -> None:
        """Run ``reader`` (which returns why ``what`` cannot be used, or ""); file the answer."""
        try:
            problem = reader()
        except NotFoundError:
            problem = "does not exist"
        if problem:
            self.missing.append(f"{what} {problem}")
        else:
            self.present.append(what)


def _zone(client: Any, zone_id: str) -> str:
    bare = zone_id.rsplit("/", 1)[-1]
    try:
        aws_clients.call(f"reading hosted zone {bare}", client.get_hosted_zone, Id=bare)
    except IrdriveOpsError as error:
        if error.details.get("aws_error") == NO_SUCH_ZONE:
            return "does not exist"
        raise
    return ""


def _secret(client: Any, secret_id: str) -> str:
    # DescribeSecret: the secret's metadata, never its value.
    answer = aws_clients.call(
        f"describing secret {secret_id}", client.describe_secret, SecretId=secret_id
    )
    return "is scheduled for deletion" if answer.get("DeletedDate") else ""


def _ip_set(client: Any, ip_set: dict[str, Any]) -> str:
    scope = str(ip_set.get("scope") or "REGIONAL")
    WafIpSetClient(client, IpSetRef(str(ip_set["name"]), scope, ip_set.get("id") or "")).get()
    return ""


def _nacl(client: Any, nacl_id: str) -> str:
    answer = aws_clients.call(
        f"reading network ACL {nacl_id}", client.describe_network_acls, NetworkAclIds=[nacl_id]
    )
    return "" if answer.get("NetworkAcls") else "does not exist"


def _k8s_secret(client: Any, namespace: str, name: str) -> str:
    client.get_secret(namespace, name)  # raises NotFoundError; the data is dropped here
    return ""


def check(
    wanted: Wanted,
    aws_client: Callable[[str], Any],
    k8s_client: Callable[[], Any],
) -> Found:
    """Read every wanted object once. ``aws_client(service)`` and ``k8s_client()`` are called
    only when a read needs them, so a runbook that reads no Kubernetes object needs no cluster."""
    found = Found()
    aws = {service: aws_client(service) for service in sorted(wanted.services)}
    if wanted.hosted_zone_id:
        zone = wanted.hosted_zone_id
        found.read(f"Route53 hosted zone {zone}", partial(_zone, aws["route53"], zone))
    for secret_id in wanted.secrets:
        what = f"Secrets Manager secret {secret_id}"
        found.read(what, partial(_secret, aws["secretsmanager"], secret_id))
    for ip_set in wanted.waf_ip_sets:
        what = f"WAF IP set {ip_set.get('name')} ({ip_set.get('scope') or 'REGIONAL'})"
        found.read(what, partial(_ip_set, aws["wafv2"], ip_set))
    if wanted.nacl_id:
        found.read(f"network ACL {wanted.nacl_id}", partial(_nacl, aws["ec2"], wanted.nacl_id))
    if wanted.k8s_secrets:
        kube = k8s_client()
        for name in wanted.k8s_secrets:
            what = f"Kubernetes Secret {wanted.namespace}/{name}"
            found.read(what, partial(_k8s_secret, kube, wanted.namespace, name))
    return found
