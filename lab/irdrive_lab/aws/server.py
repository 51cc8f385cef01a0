"""The lab's AWS endpoint: moto's server app behind a middleware that journals every write.

Run as ``python -m irdrive_lab.aws.server --dir DIR --port PORT``. The process binds
127.0.0.1:PORT, then seeds the platform's resources through its own HTTP endpoint (boto3, as
any client would) and writes them to ``run/aws-resources.json``; ``irdrive_lab.aws.aws.wait_ready``
waits for that file. Requests the lab itself makes (seeding, ``/moto-api/*``) are journaled
with source ``lab``, every other mutating AWS call with source ``aws`` and its API action.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from irdrive_lab.aws.aws import (
    LAB_HEADER,
    LOCK_BUCKET,
    LOCK_PREFIX,
    REGION,
    resources_file,
    seed,
)
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.credentials import app_secret, processor_api_keys
from irdrive_lab.control.journal import Journal

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Check", "Search")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")

# (service, method, path regex) -> action name, for the REST services the lab seeds.
_REST_ACTIONS: list[tuple[str, str, re.Pattern[str], str]] = [
    ("route53", "POST", re.compile(r"/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("route53", "POST", re.compile(r"/hostedzone/?$"), "CreateHostedZone"),
    ("route53", "DELETE", re.compile(r"/hostedzone/[^/]+$"), "DeleteHostedZone"),
    ("route53", "POST", re.compile(r"/healthcheck/?$"), "CreateHealthCheck"),
    ("cloudfront", "POST", re.compile(r"/distribution/[^/]+/invalidation$"), "CreateInvalidation"),
    ("cloudfront", "POST", re.compile(r"/distribution/?$"), "CreateDistribution"),
    ("cloudfront", "PUT", re.compile(r"/distribution/[^/]+/config$"), "UpdateDistribution"),
    ("cloudfront", "DELETE", re.compile(r"/distribution/[^/]+$"), "DeleteDistribution"),
]
_S3_SUBRESOURCE_ACTIONS = {
    "versioning": "PutBucketVersioning",
    "object-lock": "PutObjectLockConfiguration",
    "retention": "PutObjectRetention",
    "legal-hold": "PutObjectLegalHold",
    "policy": "PutBucketPolicy",
    "tagging": "PutBucketTagging",
    "acl": "PutBucketAcl",
    "delete": "DeleteObjects",
    "uploads": "CreateMultipartUpload",
}


def signing_service(environ: dict[str, Any]) -> str | None:
    """The service name from a SigV4 Authorization header (``s3``, ``route53``, ...)."""
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(2).lower() if match else None


def classify(environ: dict[str, Any], body: bytes) -> tuple[str | None, str, bool]:
    """Return ``(service, action, is_write)`` for one AWS request."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    service = signing_service(environ)

    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocol: Secrets Manager, WAFv2, ...
        prefix, _, action = target.rpartition(".")
        service = service or prefix.split("_")[0].lower()
        return service, action, not action.startswith(READ_PREFIXES)

    action_values = query.get("Action")
    if not action_values and environ.get("CONTENT_TYPE", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        action_values = parse_qs(body.decode("utf-8", "replace")).get("Action")
    if action_values:  # query protocol: EC2, IAM, STS
        action = action_values[0]
        return service, action, not action.startswith(READ_PREFIXES)

    # REST protocols (Route53, CloudFront, S3): reads are GET/HEAD.
    if method in READ_METHODS:
        return service, f"{method} {path}", False
    for svc, rest_method, pattern, action in _REST_ACTIONS:
        if (service in (None, svc)) and method == rest_method and pattern.search(path):
            return svc, action, True
    if service == "s3":
        return service, _s3_action(method, path, query), True
    return service, f"{method} {path}", True


def _s3_action(method: str, path: str, query: dict[str, list[str]]) -> str:
    for key, action in _S3_SUBRESOURCE_ACTIONS.items():
        if key in query:
            return action
    is_object = "/" in path.strip("/")
    if method == "PUT":
        return "PutObject" if is_object else "CreateBucket"
    if method == "DELETE":
        return "DeleteObject" if is_object else "DeleteBucket"
    return f"{method} {path}"


def is_lock_write(service: str | None, path: str) -> bool:
    """A write of a run's lock object (irdrive.ops.s3_lock): bookkeeping, marked like a Lease's."""
    return service == "s3" and path.lstrip("/").startswith(f"{LOCK_BUCKET}/{LOCK_PREFIX}")


def is_dry_run(body: bytes, environ: dict[str, Any]) -> bool:
    """EC2 calls with ``DryRun=true`` write nothing; the journal marks them."""
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qs(body.decode("utf-8", "replace")))
    return params.get("DryRun", ["false"])[0].lower() == "true"


class JournalMiddleware:
    """WSGI middleware: pass every request to moto, journal the mutating ones."""

    def __init__(self, app: Callable[..., Iterable[bytes]], journal: Journal) -> None:
        self.app = app
        self.journal = journal

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        body = self._read_body(environ)
        captured: dict[str, int] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        try:
            self._journal(environ, body, captured.get("status"))
        except Exception as exc:  # the journal must never break the AWS endpoint
            print(f"journal write failed: {exc}", file=sys.stderr, flush=True)
        return result

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        if length > 0:
            body = stream.read(length)
        elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            body = stream.read()
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _journal(self, environ: dict[str, Any], body: bytes, status: int | None) -> None:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            if method != "GET":
                self.journal.record("lab", method, path, body, status, action="moto-api")
            return
        service, action, write = classify(environ, body)
        if not write:
            return
        source = "lab" if environ.get("HTTP_" + LAB_HEADER.upper().replace("-", "_")) else "aws"
        self.journal.record(
            source,
            method,
            path,
            body,
            status,
            action=action,
            service=service,
            dry_run=True if is_dry_run(body, environ) else None,
            lock=True if is_lock_write(service, path) else None,
        )


def build_app(journal: Journal) -> JournalMiddleware:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return JournalMiddleware(DomainDispatcherApplication(create_backend_app), journal)


def _seed_in_background(cfg: LabConfig, endpoint: str, out: Path) -> None:
    started = time.monotonic()
    try:
        resources = seed(endpoint, app_secret(cfg), processor_api_keys(cfg))
        record: dict[str, Any] = {"ok": True, "resources": resources}
    except Exception as exc:
        record = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    record["seconds"] = round(time.monotonic() - started, 3)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.chmod(tmp, 0o600)
    tmp.replace(out)
    print(f"seed finished in {record['seconds']}s ok={record['ok']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m irdrive_lab.aws.server")
    parser.add_argument("--dir", required=True, type=Path, help="the lab folder")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-seed", action="store_true", help="start empty")
    args = parser.parse_args(argv)

    # moto reads these at import time; keep it quiet and local.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    # The default AMI catalogue costs over a second on the first EC2 call; the lab needs none.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    cfg = LabConfig(dir=args.dir.resolve())
    started = time.monotonic()
    app = build_app(Journal(cfg.journal_file))
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"listening on {args.host}:{args.port} after {time.monotonic() - started:.3f}s")
    sys.stdout.flush()

    if not args.no_seed:
        out = resources_file(cfg)
        out.unlink(missing_ok=True)
        endpoint = f"http://{args.host}:{args.port}"
        threading.Thread(target=_seed_in_background, args=(cfg, endpoint, out), daemon=True).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
