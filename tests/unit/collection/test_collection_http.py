"""module_utils.http and irdrive.ops.http_health against a scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    TransientError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.http import request
from ansible_collections.irdrive.ops.plugins.modules import http_health

FAST = {"backoff": {"delay": 0.01, "max_delay": 0.02}}


class Script:
    """Answers in order; the last answer repeats.  Records the requests."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, Any, float]] = [(200, {"status": "ok"}, 0.0)]
        self.seen: list[dict[str, Any]] = []

    def then(self, *answers: tuple[int, Any] | tuple[int, Any, float]) -> None:
        self.answers = [(a[0], a[1], a[2] if len(a) > 2 else 0.0) for a in answers]

    def next(self) -> tuple[int, Any, float]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            script.seen.append({"path": self.path, "headers": dict(self.headers)})
            status, body, delay = script.next()
            time.sleep(delay)  # the fake server's injected delay
            data = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
            kind = "application/json" if not isinstance(body, str) else "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_HEAD = do_GET

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02})
    thread.daemon = True
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/health"


def test_request_returns_any_status(server) -> None:
    url, script = server
    script.then((503, {"status": "down"}))
    response = request(url + "/health")
    assert response.status == 503
    assert response.content_type == "application/json"
    assert json.loads(response.body) == {"status": "down"}
    assert response.latency_ms > 0


def test_request_to_closed_port_is_unreachable() -> None:
    url = closed_port_url()
    with pytest.raises(UnreachableError, match="127.0.0.1"):
        request(url)


def test_read_timeout_is_transient(server) -> None:
    url, script = server
    script.then((200, "slow", 1.0))
    with pytest.raises(TransientError, match="timed out"):
        request(url + "/health", timeout=0.2)


def test_healthy_on_first_attempt(run_module, server) -> None:
    url, script = server
    result, failed = run_module(http_health, {"url": url + "/payments/health"})
    assert not failed and result["healthy"] and not result["changed"]
    assert result["status"] == 200 and result["attempts"] == 1
    assert result["json"] == {"status": "ok"}
    assert result["error_kind"] == ""


def test_unhealthy_then_healthy_is_retried(run_module, server) -> None:
    url, script = server
    script.then((503, {"status": "down"}), (503, {"status": "down"}), (200, {"status": "ok"}))
    result, failed = run_module(http_health, {"url": url, "retries": 3, **FAST})
    assert not failed and result["healthy"]
    assert result["attempts"] == 3
    assert len(script.seen) == 3


def test_unhealthy_fails_after_retries(run_module, server) -> None:
    url, script = server
    script.then((503, {"status": "down"}))
    result, failed = run_module(http_health, {"url": url, "retries": 2, **FAST})
    assert failed and not result["healthy"]
    assert result["attempts"] == 3 and result["status"] == 503
    assert result["error_kind"] == "unhealthy"
    assert "status 503 not in [200]" in result["msg"]


def test_fail_on_unhealthy_false_reports_for_branching(run_module, server) -> None:
    url, script = server
    script.then((503, {"status": "down"}))
    args = {"url": url, "retries": 0, "fail_on_unhealthy": False}
    result, failed = run_module(http_health, args, check_mode=True)
    assert not failed and result["healthy"] is False
    assert result["attempts"] == 1


@pytest.mark.parametrize(("pattern", "healthy"), [(r'"status":\s*"ok"', True), (r"segpay", False)])
def test_body_match(run_module, server, pattern: str, healthy: bool) -> None:
    url, _ = server
    args = {"url": url, "body_match": pattern, "retries": 0, "fail_on_unhealthy": False}
    result, _ = run_module(http_health, args)
    assert result["healthy"] is healthy
    if not healthy:
        assert "body does not match" in result["reason"]


@pytest.mark.parametrize(
    ("expected", "reason"),
    [
        ({"content-TYPE": "application/json"}, ""),
        ({"Content-Type": "text/html"}, "header Content-Type is 'application/json', expected"),
        ({"X-Lab-Edge": "backup"}, "header X-Lab-Edge is missing, expected 'backup'"),
    ],
)
def test_expected_headers(run_module, server, expected: dict[str, str], reason: str) -> None:
    """Which edge served an answer is a header: named case-insensitively, exact value, and a
    missing header is unhealthy too."""
    url, _ = server
    args = {"url": url, "expected_headers": expected, "retries": 1, **FAST}
    result, failed = run_module(http_health, {**args, "fail_on_unhealthy": False})
    assert not failed and result["healthy"] is (not reason)
    assert reason in result["reason"] and result["attempts"] == (1 if not reason else 2)


def test_expected_status_list(run_module, server) -> None:
    url, script = server
    script.then((204, ""))
    result, failed = run_module(http_health, {"url": url, "expected_status": [200, 204]})
    assert not failed and result["status"] == 204


def test_unreachable_reports_error_kind(run_module) -> None:
    args = {"url": closed_port_url(), "retries": 1, "fail_on_unhealthy": False, **FAST}
    result, failed = run_module(http_health, args)
    assert not failed and not result["healthy"]
    assert result["error_kind"] == "unreachable"
    assert result["status"] is None and result["attempts"] == 2


def test_bearer_token_is_sent_and_never_returned(run_module, server) -> None:
    url, script = server
    token = "canary-7f3a9d"
    result, _ = run_module(http_health, {"url": url, "bearer_token": token})
    assert script.seen[-1]["headers"]["Authorization"] == f"Bearer {token}"
    assert token not in json.dumps(result)
    assert http_health.argument_spec()["bearer_token"]["no_log"] is True


def test_body_is_truncated(run_module, server) -> None:
    url, script = server
    script.then((200, "x" * 5000))
    result, _ = run_module(http_health, {"url": url, "body_limit": 100})
    assert result["body"] == "x" * 100
    assert "json" not in result


def test_bad_regex_is_a_clear_error(run_module, server) -> None:
    url, _ = server
    result, failed = run_module(http_health, {"url": url, "body_match": "("})
    assert failed and "body_match" in result["msg"]


def test_urls_are_checked_together_and_reported_by_name(run_module, server) -> None:
    url, script = server
    dead = closed_port_url()
    args = {
        "urls": {"payments": url + "/payments/health", "ccbill": dead},
        "retries": 0,
        "fail_on_unhealthy": False,
    }
    result, failed = run_module(http_health, args)
    assert not failed and result["healthy"] is False
    assert result["checks"]["payments"]["healthy"] and result["checks"]["payments"]["status"] == 200
    assert result["checks"]["ccbill"]["error_kind"] == "unreachable"
    assert result["reason"].startswith("ccbill: ") and result["error_kind"] == "unreachable"

    result, failed = run_module(http_health, {**args, "fail_on_unhealthy": True})
    assert failed and "ccbill" in result["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [({}, "one of the following is required"), ({"urls": {}}, "at least one endpoint")],
)
def test_url_or_urls_is_required(run_module, args, message) -> None:
    result, failed = run_module(http_health, args)
    assert failed and message in result["msg"]


def _self_signed(tmp_path) -> tuple[str, str]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "irdrive test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_tls_settings_are_honoured_per_request(server, tmp_path) -> None:
    """The TLS context is built once per settings, not once per request: each request still
    verifies as its own validate_certs and ca_path say."""
    import ssl

    from ansible_collections.irdrive.ops.plugins.module_utils.errors import TLSError
    from ansible_collections.irdrive.ops.plugins.module_utils.http import _tls_context

    url, _ = server
    cert, key = _self_signed(tmp_path)
    httpd_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    httpd_ctx.load_cert_chain(cert, key)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = httpd_ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02})
    thread.daemon = True
    thread.start()
    https = f"https://127.0.0.1:{httpd.server_address[1]}/health"
    try:
        _tls_context.cache_clear()
        assert request(url + "/health").status == 200  # plain http beside them
        with pytest.raises(TLSError):
            request(https)  # not trusted by the system's CAs
        assert request(https, ca_path=cert).status == 200
        assert request(https, validate_certs=False).status == 200
        with pytest.raises(TLSError):
            request(https)  # the cached default context still verifies
        assert _tls_context.cache_info().misses == 3
        assert _tls_context.cache_info().hits >= 2
    finally:
        httpd.shutdown()
        httpd.server_close()
