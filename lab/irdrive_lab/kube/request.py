"""A request to the lab's Kubernetes API and its response, independent of the socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from irdrive_lab.kube.errors import BadRequest, UnsupportedMediaType
from irdrive_lab.kube.resources import Resource


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    content_type: str = ""
    accept: str = ""

    @property
    def wants_table(self) -> bool:
        return "as=Table" in self.accept.replace(" ", "")

    @property
    def dry_run(self) -> bool:
        """``dryRun=All`` in the query, or in the DeleteOptions body of a DELETE."""
        if "All" in self.query.get("dryRun", "").split(","):
            return True
        if self.method == "DELETE" and self.body:
            try:
                options = json.loads(self.body)
            except ValueError:
                return False
            return isinstance(options, dict) and "All" in (options.get("dryRun") or [])
        return False

    def json_body(self) -> Any:
        if not self.body:
            raise BadRequest("the request has no body")
        media = self.content_type.split(";", 1)[0].strip().lower()
        if "protobuf" in media or "cbor" in media:
            raise UnsupportedMediaType(
                f"the lab's API accepts JSON bodies only, not {media}; for kubectl create "
                "<kind>, use: kubectl create ... --dry-run=client -o yaml | kubectl apply -f -"
            )
        if media in ("application/yaml", "application/apply-patch+yaml"):
            try:
                return yaml.safe_load(self.body)
            except yaml.YAMLError as exc:
                raise BadRequest(f"the request body is not valid YAML: {exc}") from None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    text: str | None = None
    # A stream is sent with chunked transfer encoding, one chunk per item.
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Target:
    """A parsed resource path: /api/v1/namespaces/ns/pods/name/log and the like."""

    res: Resource
    namespace: str | None
    name: str | None
    sub: str | None


def flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def int_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {value!r}") from None


def dry_run_param(req: Request) -> bool:
    """The ``dryRun`` query parameter: ``All`` or absent, anything else is a bad request."""
    values = [v for v in req.query.get("dryRun", "").split(",") if v]
    if not values:
        return False
    if values != ["All"]:
        raise BadRequest(f"Invalid dry run value: {req.query['dryRun']!r} (only All is valid)")
    return True
