# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Route53 record sets (module route53_record) and CloudFront distributions (cloudfront_info).

``Route53Records`` reads one record set by name and type, UPSERTs it and waits until GetChange
says INSYNC. Every call goes through ``aws_clients.call`` (botocore errors sorted into
``errors``) inside ``retry.retry``, which repeats only ``TransientError``: throttling, 5xx and
Route53's PriorRequestNotComplete. A record is returned as the shape amazon.aws.route53_info
gives (``name``, ``type``, ``ttl``, ``resource_records: [{value}]``), so what reads it does not
care which module read it. Hostnames compare lower-case without the trailing dot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils import aws_clients
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry
from ansible_collections.irdrive.ops.plugins.module_utils.waiter import poll_until

#: Record types whose values are hostnames: compared without case and trailing dot.
HOSTNAME_TYPES = frozenset({"CNAME", "NS", "PTR"})


def host(name: Any) -> str:
    """A hostname as Route53 compares it: lower case, no trailing dot."""
    return str(name or "").lower().rstrip(".")


def zone_id(value: str) -> str:
    """The bare id of a hosted zone given with or without ``/hostedzone/``."""
    bare = str(value or "").rsplit("/", 1)[-1]
    if not bare:
        raise InvalidInputError("hosted_zone_id is empty")
    return bare


def normalized(values: list[str], record_type: str) -> list[str]:
    """Values in the form they are compared and written: hostnames lower-case without the dot."""
    if record_type in HOSTNAME_TYPES:
        return sorted(host(value) for value in values)
    return sorted(str(value) for value in values)


@dataclass(frozen=True)
class RecordSet:
    """One simple record set: its name (no trailing dot), type, TTL and values."""

    name: str
    type: str
    ttl: int | None
    values: list[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, rrset: dict[str, Any]) -> RecordSet:
        rtype = str(rrset.get("Type", ""))
        values = [str(r.get("Value", "")) for r in rrset.get("ResourceRecords") or []]
        ttl = rrset.get("TTL")
        return cls(host(rrset.get("Name")), rtype, None if ttl is None else int(ttl), values)

    def summary(self) -> dict[str, Any]:
        """The record as a result shows it (and as the prior state records it)."""
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "values": self.values}

    def as_info(self) -> dict[str, Any]:
        """The shape of amazon.aws.route53_info's ``resource_record_sets`` items."""
        return {
            "name": self.name + ".",
            "type": self.type,
            "ttl": self.ttl,
            "resource_records": [{"value": value} for value in self.values],
        }

    def same_as(self, other: RecordSet) -> bool:
        return (
            self.ttl == other.ttl
            and self.type == other.type
            and normalized(self.values, self.type) == normalized(other.values, other.type)
        )


def _retried(what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
    """``method(**kwargs)``, errors translated, transient ones retried with backoff."""
    return retry(lambda: aws_clients.call(what, method, **kwargs), attempts=4, deadline=30.0)


class Route53Records:
    """Reads and UPSERTs simple record sets of one hosted zone."""

    def __init__(
        self,
        client: Any,
        hosted_zone_id: str,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.zone = zone_id(hosted_zone_id)
        self._wait_kwargs: dict[str, Any] = {}
        if sleep is not None:
            self._wait_kwargs["sleep"] = sleep
        if clock is not None:
            self._wait_kwargs["clock"] = clock

    def read(self, name: str, record_type: str) -> RecordSet | None:
        """The record set ``name``/``record_type``, or None when the zone has none."""
        wanted = host(name)
        page = _retried(
            f"reading {record_type} record {wanted} in hosted zone {self.zone}",
            self.client.list_resource_record_sets,
            HostedZoneId=self.zone,
            StartRecordName=wanted,
            StartRecordType=record_type,
            MaxItems="1",
        )
        for rrset in page.get("ResourceRecordSets") or []:
            found = RecordSet.from_api(rrset)
            if found.name == wanted and found.type == record_type:
                if rrset.get("AliasTarget") or rrset.get("SetIdentifier"):
                    raise InvalidInputError(
                        f"{record_type} record {wanted} is an alias or routing-policy record; "
                        "only simple records are managed here, nothing was changed"
                    )
                return found
        return None

    def upsert(self, record: RecordSet) -> str:
        """UPSERT ``record``; returns the change id."""
        answer = _retried(
            f"UPSERTing {record.type} record {record.name} in hosted zone {self.zone}",
            self.client.change_resource_record_sets,
            HostedZoneId=self.zone,
            ChangeBatch={
                "Comment": "irdrive",
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": record.name,
                            "Type": record.type,
                            "TTL": record.ttl,
                            "ResourceRecords": [{"Value": value} for value in record.values],
                        },
                    }
                ],
            },
        )
        return str(answer["ChangeInfo"]["Id"])

    def change_status(self, change_id: str) -> str:
        answer = _retried(
            f"reading change {change_id}", self.client.get_change, Id=change_id.rsplit("/", 1)[-1]
        )
        return str(answer["ChangeInfo"]["Status"])

    def wait_insync(self, change_id: str, timeout: float, interval: float) -> float:
        """Seconds until GetChange says INSYNC; DeadlineExceeded after ``timeout``."""
        waited = poll_until(
            lambda: True if self.change_status(change_id) == "INSYNC" else None,
            timeout,
            interval,
            first_interval=min(0.2, interval),
            **self._wait_kwargs,
        )
        return waited.elapsed


def distribution_info(client: Any, distribution_id: str) -> dict[str, Any]:
    """What a CDN failover needs of a CloudFront distribution: domain name, status, enabled."""
    answer = _retried(
        f"reading CloudFront distribution {distribution_id}",
        client.get_distribution,
        Id=distribution_id,
    )
    dist = answer.get("Distribution") or {}
    config = dist.get("DistributionConfig") or {}
    return {
        "id": str(dist.get("Id", distribution_id)),
        "domain_name": host(dist.get("DomainName")),
        "status": str(dist.get("Status", "")),
        "enabled": bool(config.get("Enabled", False)),
        "aliases": list((config.get("Aliases") or {}).get("Items") or []),
    }
