"""The CDN in front of the origin: ``cdn.platform.com`` in the lab's Route53 decides the edge.

A CloudFront name is the primary edge, the backup CDN's host the backup edge; fault cdn-down
takes the primary edge down. ``/cdn/<object>`` follows the record, ``/cdn/<edge>/<object>``
asks one edge directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from irdrive_lab.control.state import LabState
from irdrive_lab.platform.origin import origin_object
from irdrive_lab.platform.util import InfoProvider, dig
from irdrive_lab.platform.web import Request, Response, error, json_response

CDN_RECORD = "cdn.platform.com"
BACKUP_CDN_HOST = "platform.backup-cdn.net"
PRIMARY_CDN_SUFFIX = ".cloudfront.net"

CdnResolver = Callable[[], str]


class CdnResolutionError(RuntimeError):
    """cdn.platform.com could not be resolved through the lab's Route53."""


class Route53CdnResolver:
    """The target of ``cdn.platform.com`` (CNAME value or alias DNS name) in the lab's moto."""

    def __init__(self, info_provider: InfoProvider) -> None:
        self._info = info_provider
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}

    def _client(self, aws: Mapping[str, Any]) -> Any:
        endpoint, region = aws["endpoint"], aws.get("region") or "us-east-1"
        with self._lock:
            client = self._clients.get((endpoint, region))
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.session.Session().client(
                    "route53",
                    endpoint_url=endpoint,
                    region_name=region,
                    aws_access_key_id=aws.get("access_key_id") or "testing",
                    aws_secret_access_key=aws.get("secret_access_key") or "testing",
                    config=Config(
                        retries={"mode": "standard", "max_attempts": 2},
                        connect_timeout=1,
                        read_timeout=2,
                    ),
                )
                self._clients[(endpoint, region)] = client
            return client

    def __call__(self) -> str:
        aws = dig(self._info(), "aws") or {}
        if not aws.get("endpoint"):
            raise CdnResolutionError("no AWS endpoint in lab.json")
        zone = aws.get("hosted_zone_id") or dig(aws, "resources", "hosted_zone_id")
        if not zone:
            raise CdnResolutionError("no hosted_zone_id in lab.json")
        client = self._client(aws)
        kwargs: dict[str, Any] = {"HostedZoneId": zone}
        try:
            while True:
                page = client.list_resource_record_sets(**kwargs)
                for rrset in page.get("ResourceRecordSets", []):
                    if rrset["Name"].rstrip(".").lower() != CDN_RECORD:
                        continue
                    if rrset.get("AliasTarget"):
                        return str(rrset["AliasTarget"]["DNSName"]).rstrip(".").lower()
                    if rrset["Type"] == "CNAME" and rrset.get("ResourceRecords"):
                        return str(rrset["ResourceRecords"][0]["Value"]).rstrip(".").lower()
                if not page.get("IsTruncated"):
                    break
                kwargs = {"HostedZoneId": zone, "StartRecordName": page["NextRecordName"]}
                if page.get("NextRecordType"):
                    kwargs["StartRecordType"] = page["NextRecordType"]
        except Exception as exc:  # botocore's errors, imported lazily
            raise CdnResolutionError(f"Route53 lookup failed: {exc}") from exc
        raise CdnResolutionError(f"no CNAME or alias record {CDN_RECORD} in zone {zone}")


def edge_for(target: str, backup_host: str = BACKUP_CDN_HOST) -> str | None:
    """primary for a CloudFront name, backup for the backup CDN, None for anything else."""
    target = target.rstrip(".").lower()
    if target.endswith(PRIMARY_CDN_SUFFIX):
        return "primary"
    if target == backup_host:
        return "backup"
    return None


class Cdn:
    """The edges as ``/cdn/...`` serves them and as the streaming health check sees them.

    ``resolve`` gives the record's target (the app caches it briefly); ``info`` gives lab.json,
    where the backup CDN's host may be named.
    """

    def __init__(self, state: LabState, resolve: CdnResolver, info: InfoProvider) -> None:
        self.state, self._resolve, self._info = state, resolve, info

    def _backup_host(self) -> str:
        return str(dig(self._info(), "aws", "resources", "backup_cdn_hostname") or BACKUP_CDN_HOST)

    def check(self) -> dict[str, Any]:
        try:
            target = self._resolve()
        except CdnResolutionError as exc:
            return {"ok": False, "detail": str(exc)}
        edge = edge_for(target, self._backup_host())
        if edge is None:
            return {"ok": False, "target": target, "detail": f"{CDN_RECORD} -> {target}: no edge"}
        with self.state.lock:
            up = not (edge == "primary" and self.state.cdn_down)
        detail = f"{edge} edge {'up' if up else 'down'}"
        return {"ok": up, "edge": edge, "target": target, "detail": detail}

    def serve(self, req: Request, rest: str) -> Response:
        """``rest`` is the path after ``/cdn/``."""
        edge, _, obj = rest.partition("/")
        if edge in ("primary", "backup") and obj:
            return self._edge(req, edge, obj, None)
        try:
            target = self._resolve()
        except CdnResolutionError as exc:
            return error(502, f"{CDN_RECORD} does not resolve: {exc}", edge="none")
        found = edge_for(target, self._backup_host())
        if found is None:
            return error(502, f"{CDN_RECORD} points to {target}, no CDN edge of the lab")
        return self._edge(req, found, rest, target)

    def _edge(self, req: Request, edge: str, obj: str, target: str | None) -> Response:
        headers = {"X-Lab-Edge": edge}
        if target:
            headers["X-Lab-Cdn-Target"] = target
        with self.state.lock:
            down = edge == "primary" and self.state.cdn_down
        if down:
            resp = error(502, "bad gateway: the primary CDN edge is down", edge=edge)
        elif obj == "health":
            resp = json_response(200, {"status": "ok", "edge": edge})
        elif obj == "test.mp4":
            resp = origin_object(req)
        else:
            resp = error(404, f"no object {obj!r} at the {edge} edge", edge=edge)
        resp.headers.update(headers)
        return resp
