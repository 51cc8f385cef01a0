"""Unit tests of the platform endpoints and the lab control API, against a fake store."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.credentials import processor_api_keys
from irdrive_lab.control.journal import Journal
from irdrive_lab.control.state import LabState
from irdrive_lab.kube.errors import Conflict, not_found
from irdrive_lab.platform import cache, cluster, dbcheck, streaming, web
from irdrive_lab.platform.app import PlatformApp
from irdrive_lab.platform.cache import resolve_admin_token
from irdrive_lab.platform.cdn import CdnResolutionError, edge_for
from irdrive_lab.platform.cluster import pod_is_ready
from irdrive_lab.platform.faults import bad_image_of
from irdrive_lab.platform.origin import TEST_VIDEO, TEST_VIDEO_ETAG, parse_range
from irdrive_lab.platform.server import make_platform_server
from irdrive_lab.platform.web import Request

NS = "platform"
TOKEN = "unit-test-admin-token"
CLOUDFRONT = "d111111abcdef8.cloudfront.net"


class FakeStore:
    """The Store interface the platform uses: get, list (label selector k=v,...), update, lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rv = 0
        self.updates: list[dict[str, Any]] = []
        self.conflicts_to_raise = 0

    def put(self, resource: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        self.objects[(resource, meta.get("namespace", NS), meta["name"])] = obj

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.objects[(resource, namespace or "default", name)])
        except KeyError:
            raise not_found(resource.split(".")[0], name) from None

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        wanted = dict(p.split("=", 1) for p in (label_selector or "").split(",") if p)
        items = [
            copy.deepcopy(obj)
            for (res, ns, _), obj in sorted(self.objects.items())
            if res == resource
            and (namespace is None or ns == namespace)
            and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        return items, str(self.rv)

    def update(self, resource: str, obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        key = (resource, obj["metadata"]["namespace"], obj["metadata"]["name"])
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            self.rv += 1
            self.objects[key]["metadata"]["resourceVersion"] = str(self.rv)
        if obj["metadata"]["resourceVersion"] != self.objects[key]["metadata"]["resourceVersion"]:
            raise Conflict("the object has been modified")
        self.updates.append(copy.deepcopy(obj))
        self.put(resource, copy.deepcopy(obj))
        return obj

    def add_listener(self, fn: Any) -> None:  # pragma: no cover - interface only
        pass


def deployment(name: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"spec": {"containers": [{"name": name, "image": image}]}},
        },
    }


def pod(
    app: str,
    name: str,
    ready: bool = True,
    env: dict[str, str] | None = None,
    created: str = "2026-01-01T00:00:00Z",
    phase: str = "Running",
) -> dict[str, Any]:
    annotations = {cluster.ENV_ANNOTATION: json.dumps(env)} if env is not None else {}
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"app": app},
            "annotations": annotations,
            "creationTimestamp": created,
        },
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS}, "data": data}


def seeded_store() -> FakeStore:
    store = FakeStore()
    for name in ("frontend", "backend", "payment-service", "streaming-service"):
        store.put("deployments.apps", deployment(name, f"registry.local/{name}:1.4.2"))
        store.put("pods", pod(name, f"{name}-a", env={"PRIMARY_PROCESSOR": "ccbill"}))
    store.put("configmaps", configmap("payment-config", {"PRIMARY_PROCESSOR": "ccbill"}))
    store.put(
        "configmaps", configmap("kill-switches", {"payments": "enabled", "streaming": "enabled"})
    )
    return store


class Lab:
    """An app over a fake store, with a fake CDN resolver and database check."""

    def __init__(self, tmp_path: Path, store: FakeStore | None = None) -> None:
        self.cfg = LabConfig(dir=tmp_path, port_base=20000)
        self.cfg.ensure_dirs()
        self.store = store or seeded_store()
        self.state = LabState()
        self.info: dict[str, Any] | None = {}
        self.cdn_target: str | Exception = CLOUDFRONT
        self.cdn_calls = 0
        self.db: tuple[bool, str] = (True, "ok")
        self.resets = 0
        self.app = PlatformApp(
            self.store,
            self.state,
            self.cfg,
            lambda: self.info,
            on_reset=self._reset,
            cdn_resolver=self._resolve,
            db_check=lambda: self.db,
            admin_token=TOKEN,
        )

    def _reset(self) -> None:
        self.resets += 1

    def _resolve(self) -> str:
        self.cdn_calls += 1
        if isinstance(self.cdn_target, Exception):
            raise self.cdn_target
        return self.cdn_target

    def call(
        self,
        method: str,
        target: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        client: str = "127.0.0.1",
    ) -> tuple[int, Any, web.Response]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
        req = Request(
            method, target, {k.lower(): v for k, v in (headers or {}).items()}, raw, client
        )
        resp = self.app.handle(req)
        data: Any = resp.body
        if resp.content_type == "application/json" and resp.body:
            data = json.loads(resp.body)
        return resp.status, data, resp

    def fresh_caches(self) -> None:
        """Forget cached CDN and database answers (their TTLs are 0.5 s and 1 s)."""
        self.app._cdn_target._at = -1e9
        self.app._db._at = -1e9


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


# ---- helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("obj", "ready"),
    [
        (pod("x", "p"), True),
        (pod("x", "p", ready=False), False),
        (pod("x", "p", phase="Pending"), False),
        ({**pod("x", "p"), "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}, False),
        ({"metadata": {}, "status": {"phase": "Running"}}, False),
    ],
)
def test_pod_is_ready(obj: dict[str, Any], ready: bool) -> None:
    assert pod_is_ready(obj) is ready


@pytest.mark.parametrize(
    ("image", "bad"),
    [
        ("registry.local/backend:1.4.2", "registry.local/backend:1.4.2-bad"),
        ("backend", "backend:latest-bad"),
        ("registry.local:5000/team/backend", "registry.local:5000/team/backend:latest-bad"),
        ("registry.local:5000/backend:2", "registry.local:5000/backend:2-bad"),
        ("backend@sha256:abc", "backend:latest-bad"),
    ],
)
def test_bad_image_of(image: str, bad: str) -> None:
    assert bad_image_of(image) == bad


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=10-", (10, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=50-500", (50, 99)),
        ("bytes=100-", "bad"),
        ("bytes=9-3", "bad"),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header: str | None, expected: Any) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    ("target", "edge"),
    [
        (CLOUDFRONT, "primary"),
        (CLOUDFRONT.upper() + ".", "primary"),
        ("platform.backup-cdn.net", "backup"),
        ("origin.platform.com", None),
    ],
)
def test_edge_for(target: str, edge: str | None) -> None:
    assert edge_for(target) == edge


# ---- /health and / ------------------------------------------------------------------------
def test_health_ok_when_frontend_backend_and_database_answer(lab: Lab) -> None:
    status, body, resp = lab.call("GET", "/health")
    assert status == 200 and body["status"] == "ok"
    assert {k: v["ok"] for k, v in body["checks"].items()} == {
        "frontend": True,
        "backend": True,
        "database": True,
    }


def test_health_names_what_failed(lab: Lab) -> None:
    lab.store.put("pods", pod("backend", "backend-a", ready=False))
    lab.db = (False, "connection refused")
    status, body, _ = lab.call("GET", "/health")
    assert status == 503 and body["status"] == "down"
    assert body["checks"]["frontend"]["ok"] is True
    assert body["checks"]["backend"] == {
        "ok": False,
        "ready": 0,
        "pods": 1,
        "detail": "0/1 pods ready",
    }
    assert body["checks"]["database"] == {"ok": False, "detail": "connection refused"}


def test_health_missing_deployment_is_down(lab: Lab) -> None:
    del lab.store.objects[("deployments.apps", NS, "frontend")]
    status, body, _ = lab.call("GET", "/health")
    assert status == 503
    assert body["checks"]["frontend"] == {"ok": False, "detail": "deployment frontend not found"}


def test_database_answer_is_cached_about_a_second(lab: Lab) -> None:
    assert lab.call("GET", "/health")[0] == 200
    lab.db = (False, "down")
    assert lab.call("GET", "/health")[0] == 200  # still the cached answer
    lab.fresh_caches()
    assert lab.call("GET", "/health")[0] == 503


@pytest.mark.parametrize("path", ["/health", "/"])
def test_latency_follows_resource_pressure(lab: Lab, path: str) -> None:
    t0 = time.monotonic()
    lab.call("GET", path)
    fast = time.monotonic() - t0
    lab.call("POST", "/_lab/faults/resource-pressure", {"latency_ms": 300})
    t0 = time.monotonic()
    lab.call("GET", path)
    slow = time.monotonic() - t0
    assert slow >= 0.3 > fast
    lab.call("DELETE", "/_lab/faults/resource-pressure")
    assert lab.state.extra_latency_ms == 0 and not lab.state.pressure


def test_home_page_is_html_and_reads_through_the_cache(lab: Lab) -> None:
    status, body, resp = lab.call("GET", "/")
    assert status == 200 and resp.content_type.startswith("text/html")
    assert b"<title>Platform</title>" in body
    lab.call("GET", "/")
    stats = lab.app.cache.stats()
    assert (stats["hits"], stats["misses"]) == (1, 1)


# ---- payments ----------------------------------------------------------------------------
def test_payments_ok_on_the_processor_the_pods_started_with(lab: Lab) -> None:
    # The configmap already names segpay, but no pod was restarted: still ccbill.
    lab.store.put("configmaps", configmap("payment-config", {"PRIMARY_PROCESSOR": "segpay"}))
    status, body, _ = lab.call("GET", "/payments/health")
    assert status == 200
    assert body["status"] == "ok" and body["processor"] == "ccbill" and body["pods_ready"] == 1
    assert body["processor_source"] == "pods" and "processors" not in body


def test_payments_falls_back_to_the_configmap_without_annotations(lab: Lab) -> None:
    lab.store.put("pods", pod("payment-service", "payment-service-a", env=None))
    lab.store.put("configmaps", configmap("payment-config", {"PRIMARY_PROCESSOR": "segpay"}))
    status, body, _ = lab.call("GET", "/payments/health")
    assert status == 200 and body["processor"] == "segpay"
    assert body["processor_source"] == "payment-config"


def test_payments_degraded_when_the_effective_processor_is_down(lab: Lab) -> None:
    lab.call("POST", "/_lab/faults/processor-down", {"processor": "ccbill"})
    status, body, _ = lab.call("GET", "/payments/health")
    assert status == 503
    assert body["status"] == "degraded" and body["error"] == "processor ccbill unreachable"


def test_payments_green_after_pods_restart_on_the_backup(lab: Lab) -> None:
    lab.call("POST", "/_lab/faults/processor-down", {})
    lab.store.put(
        "pods",
        pod(
            "payment-service", "payment-service-a", ready=False, env={"PRIMARY_PROCESSOR": "ccbill"}
        ),
    )
    lab.store.put(
        "pods", pod("payment-service", "payment-service-b", env={"PRIMARY_PROCESSOR": "segpay"})
    )
    status, body, _ = lab.call("GET", "/payments/health")
    assert status == 200 and body["processor"] == "segpay" and body["pods_ready"] == 1


def test_payments_disabled_by_the_kill_switch(lab: Lab) -> None:
    lab.store.put("configmaps", configmap("kill-switches", {"payments": "disabled"}))
    status, body, _ = lab.call("GET", "/payments/health")
    assert status == 503 and body["status"] == "disabled" and body["kill_switch"] == "disabled"


def test_payments_down_without_ready_pods(lab: Lab) -> None:
    lab.store.put(
        "pods",
        pod(
            "payment-service", "payment-service-a", ready=False, env={"PRIMARY_PROCESSOR": "ccbill"}
        ),
    )
    status, body, _ = lab.call("GET", "/payments/health")
    assert status == 503 and body["status"] == "down" and body["pods_ready"] == 0


def test_payments_mid_rollout_reports_the_majority_with_counts(lab: Lab) -> None:
    for i, proc in enumerate(["segpay", "segpay", "ccbill"]):
        lab.store.put(
            "pods",
            pod(
                "payment-service",
                f"payment-service-{i}",
                env={"PRIMARY_PROCESSOR": proc},
                created=f"2026-01-01T00:00:0{i}Z",
            ),
        )
    status, body, _ = lab.call("GET", "/payments/health")
    # pods: -a (ccbill), -0 (segpay), -1 (segpay), -2 (ccbill): a tie goes to the newest pod.
    assert body["processors"] == {"ccbill": 2, "segpay": 2}
    assert body["processor"] == "ccbill"
    lab.store.objects.pop(("pods", NS, "payment-service-a"))
    status, body, _ = lab.call("GET", "/payments/health")
    assert status == 200 and body["processor"] == "segpay"
    assert body["processors"] == {"ccbill": 1, "segpay": 2} and body["pods_ready"] == 3


@pytest.mark.parametrize("name", ["ccbill", "segpay"])
def test_processor_health_follows_processor_down(lab: Lab, name: str) -> None:
    assert lab.call("GET", f"/processors/{name}/health")[:2] == (
        200,
        {"status": "ok", "processor": name},
    )
    lab.call("POST", "/_lab/faults/processor-down", {"processor": name})
    status, body, _ = lab.call("GET", f"/processors/{name}/health")
    assert status == 503 and body["status"] == "down"
    other = "segpay" if name == "ccbill" else "ccbill"
    assert lab.call("GET", f"/processors/{other}/health")[0] == 200
    lab.call("DELETE", "/_lab/faults/processor-down")
    assert lab.call("GET", f"/processors/{name}/health")[0] == 200
    assert "processor-down" not in lab.state.faults


@pytest.mark.parametrize("name", ["ccbill", "segpay"])
def test_processor_api_health_wants_the_processors_own_key(lab: Lab, name: str) -> None:
    """The processor's API (api.<processor>.com/health): its key, else 401; 503 while down."""
    keys = processor_api_keys(lab.cfg)
    assert lab.app.processor_api_keys == keys and keys["ccbill"] != keys["segpay"]
    other = "segpay" if name == "ccbill" else "ccbill"
    url = f"/processors/{name}/api/health"
    good = {"Authorization": f"Bearer {keys[name]}"}
    for headers in (
        None,
        {"Authorization": f"Bearer {keys[other]}"},
        {"Authorization": keys[name]},
    ):
        status, body, resp = lab.call("GET", url, headers=headers)
        assert status == 401 and "API key" in body["error"], headers
        assert keys[name] not in json.dumps(body)
        assert resp.headers["WWW-Authenticate"] == f'Bearer realm="{name}"'
    assert lab.call("GET", url, headers=good)[:2] == (
        200,
        {"status": "ok", "processor": name, "authenticated": True},
    )
    lab.call("POST", "/_lab/faults/processor-down", {"processor": name})
    status, body, _ = lab.call("GET", url, headers=good)
    assert status == 503 and body["status"] == "down"
    other_good = {"Authorization": f"Bearer {keys[other]}"}
    assert lab.call("GET", f"/processors/{other}/api/health", headers=other_good)[0] == 200
    lab.call("DELETE", "/_lab/faults/processor-down")
    assert lab.call("GET", url, headers=good)[0] == 200
    assert lab.call("GET", "/processors/paypal/api/health", headers=good)[0] == 404


def test_processor_api_keys_are_made_once_per_lab_folder(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path / "lab", port_base=20000)
    keys = processor_api_keys(cfg)
    assert set(keys) == {"ccbill", "segpay"} and all(len(k) > 20 for k in keys.values())
    assert processor_api_keys(cfg) == keys
    assert (cfg.dir / "processor-api-keys.json").stat().st_mode & 0o777 == 0o600
    assert processor_api_keys(LabConfig(dir=tmp_path / "other", port_base=20000)) != keys


def test_unknown_processor_is_404(lab: Lab) -> None:
    status, body, _ = lab.call("GET", "/processors/paypal/health")
    assert status == 404 and "paypal" in body["error"]


# ---- streaming and CDN -------------------------------------------------------------------
def test_streaming_ok(lab: Lab) -> None:
    status, body, _ = lab.call("GET", "/streaming/health")
    assert status == 200
    assert body["checks"]["cdn"]["edge"] == "primary"


def test_streaming_down_when_the_serving_cdn_is_down_and_up_on_backup(lab: Lab) -> None:
    lab.call("POST", "/_lab/faults/cdn-down")
    status, body, _ = lab.call("GET", "/streaming/health")
    assert status == 503 and body["checks"]["cdn"]["ok"] is False
    lab.cdn_target = "platform.backup-cdn.net"
    lab.fresh_caches()
    status, body, _ = lab.call("GET", "/streaming/health")
    assert status == 200 and body["checks"]["cdn"]["edge"] == "backup"


def test_streaming_down_when_video_storage_is_full(lab: Lab, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    lab.info = {"hosts": {"streaming": {"paths": {"video_storage": str(videos)}}}}
    (videos / "a.mp4").write_bytes(b"x" * 10)
    assert lab.call("GET", "/streaming/health")[0] == 200
    for i in range(streaming.TMP_FILES_LIMIT):
        (videos / f"upload-{i}.tmp").write_bytes(b"x")
    lab.app._info._at = -1e9
    status, body, _ = lab.call("GET", "/streaming/health")
    assert status == 503 and body["checks"]["video_storage"]["full"] is True
    assert body["checks"]["video_storage"]["tmp_files"] == streaming.TMP_FILES_LIMIT


@pytest.mark.parametrize(("free_blocks", "full"), [(3, True), (50, False)])
def test_streaming_storage_on_its_own_mount_is_full_when_nearly_used(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free_blocks: int, full: bool
) -> None:
    videos = tmp_path / "tmpfs"
    videos.mkdir()
    (videos / "transcode-0001.mp4.tmp").write_bytes(b"x")
    lab.info = {"hosts": {"streaming": {"paths": {"video_storage": str(videos)}}}}

    class Vfs:
        f_blocks, f_bavail = 100, free_blocks

    monkeypatch.setattr(streaming.os.path, "ismount", lambda p: str(p) == str(videos))
    monkeypatch.setattr(streaming.os, "statvfs", lambda p: Vfs())
    status, body, _ = lab.call("GET", "/streaming/health")
    storage = body["checks"]["video_storage"]
    assert storage["full"] is full and storage["tmp_files"] == 1
    assert storage["used_ratio"] == round(1 - free_blocks / 100, 4)
    assert status == (503 if full else 200)


def test_streaming_relative_storage_path_is_under_the_host_root(lab: Lab) -> None:
    configured = lab.cfg.dir / "not-on-this-machine" / "videos"  # absolute, and absent here
    videos = lab.cfg.host_root("streaming") / str(configured).lstrip("/")
    videos.mkdir(parents=True)
    (videos / "big.tmp").write_bytes(b"\0" * 10)
    lab.info = {"hosts": {"streaming": {"paths": {"video_storage": str(configured)}}}}
    assert not configured.exists()
    _, body, _ = lab.call("GET", "/streaming/health")
    assert body["checks"]["video_storage"]["path"] == str(videos)
    assert body["checks"]["video_storage"]["tmp_files"] == 1


def test_streaming_down_when_cdn_does_not_resolve(lab: Lab) -> None:
    lab.cdn_target = CdnResolutionError("no AWS endpoint in lab.json")
    status, body, _ = lab.call("GET", "/streaming/health")
    assert status == 503 and body["checks"]["cdn"]["detail"] == "no AWS endpoint in lab.json"


def test_streaming_disabled_by_the_kill_switch(lab: Lab) -> None:
    lab.store.put("configmaps", configmap("kill-switches", {"streaming": "disabled"}))
    status, body, _ = lab.call("GET", "/streaming/health")
    assert status == 503 and body["status"] == "disabled"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_cdn_follows_the_record_to_the_primary_edge(lab: Lab, method: str) -> None:
    status, body, resp = lab.call(method, "/cdn/test.mp4")
    assert status == 200 and body == TEST_VIDEO
    assert resp.headers["X-Lab-Edge"] == "primary" and resp.content_type == "video/mp4"
    assert resp.headers["X-Lab-Cdn-Target"] == CLOUDFRONT


def test_cdn_down_gives_502_until_failover_to_backup(lab: Lab) -> None:
    lab.call("POST", "/_lab/faults/cdn-down")
    status, _, resp = lab.call("GET", "/cdn/test.mp4")
    assert status == 502 and resp.headers["X-Lab-Edge"] == "primary"
    assert lab.call("GET", "/cdn/health")[0] == 502
    lab.cdn_target = "platform.backup-cdn.net."
    lab.fresh_caches()
    status, body, resp = lab.call("GET", "/cdn/test.mp4")
    assert status == 200 and resp.headers["X-Lab-Edge"] == "backup" and body == TEST_VIDEO
    assert lab.call("GET", "/cdn/health")[1] == {"status": "ok", "edge": "backup"}


def test_cdn_edges_directly(lab: Lab) -> None:
    lab.call("POST", "/_lab/faults/cdn-down")
    assert lab.call("GET", "/cdn/primary/test.mp4")[0] == 502
    status, _, resp = lab.call("GET", "/cdn/backup/test.mp4")
    assert status == 200 and resp.headers["X-Lab-Edge"] == "backup"
    lab.call("DELETE", "/_lab/faults/cdn-down")
    assert lab.call("GET", "/cdn/primary/health")[0] == 200
    assert lab.call("GET", "/cdn/backup/nothing.bin")[0] == 404


def test_cdn_record_elsewhere_or_unresolvable_is_502(lab: Lab) -> None:
    lab.cdn_target = "origin.platform.com"
    status, body, _ = lab.call("GET", "/cdn/test.mp4")
    assert status == 502 and "origin.platform.com" in body["error"]
    lab.cdn_target = CdnResolutionError("Route53 lookup failed: boom")
    lab.fresh_caches()
    status, body, _ = lab.call("GET", "/cdn/test.mp4")
    assert status == 502 and "boom" in body["error"]


def test_cdn_resolution_is_cached_briefly(lab: Lab) -> None:
    for _ in range(5):
        lab.call("GET", "/cdn/test.mp4")
    assert lab.cdn_calls == 1
    time.sleep(0.55)  # not a wait: the 0.5 s TTL must pass for the test to show the cache expires
    lab.call("GET", "/cdn/test.mp4")
    assert lab.cdn_calls == 2


def test_origin_serves_the_test_object_with_validators(lab: Lab) -> None:
    status, body, resp = lab.call("GET", "/origin/test.mp4")
    assert status == 200 and body == TEST_VIDEO and body[4:8] == b"ftyp"
    assert resp.headers["ETag"] == TEST_VIDEO_ETAG and resp.headers["Accept-Ranges"] == "bytes"
    status, body, resp = lab.call("GET", "/origin/test.mp4", headers={"Range": "bytes=0-99"})
    assert status == 206 and body == TEST_VIDEO[:100]
    assert resp.headers["Content-Range"] == f"bytes 0-99/{len(TEST_VIDEO)}"
    status, _, _ = lab.call("GET", "/origin/test.mp4", headers={"If-None-Match": TEST_VIDEO_ETAG})
    assert status == 304
    status, _, resp = lab.call("GET", "/origin/test.mp4", headers={"Range": "bytes=999999-"})
    assert status == 416 and resp.headers["Content-Range"] == f"bytes */{len(TEST_VIDEO)}"


def test_unknown_path_and_method(lab: Lab) -> None:
    assert lab.call("GET", "/nope")[0] == 404
    assert lab.call("POST", "/health")[0] == 405


# ---- /_admin/cache -----------------------------------------------------------------------
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
def test_cache_admin_needs_the_token(lab: Lab, headers: dict[str, str]) -> None:
    mark = Journal(lab.cfg.journal_file).mark()
    status, _, resp = lab.call("POST", "/_admin/cache/clear", headers=headers)
    assert status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert Journal(lab.cfg.journal_file).since(mark) == []


def test_cache_warm_clear_stats_and_journal(lab: Lab) -> None:
    journal = Journal(lab.cfg.journal_file)
    mark = journal.mark()
    lab.call("GET", "/")
    status, body, _ = lab.call("POST", "/_admin/cache/warm", {"keys": 50}, headers=AUTH)
    assert status == 200 and body["warmed"] == 50 and body["keys"] == 51
    assert body["last_warmed_at"]
    status, body, _ = lab.call("POST", "/_admin/cache/clear", headers=AUTH)
    assert status == 200 and body["cleared"] == 51 and body["keys"] == 0
    status, body, _ = lab.call("GET", "/_admin/cache/stats", headers=AUTH)
    assert body["keys"] == 0 and body["misses"] == 1 and body["last_cleared_at"]
    writes = journal.since(mark)
    assert [(e["source"], e["action"], e["keys"]) for e in writes] == [
        ("platform", "cache.warm", 50),
        ("platform", "cache.clear", 51),
    ]


@pytest.mark.parametrize("keys", [0, -1, "many", 10**6, True])
def test_cache_warm_rejects_bad_counts(lab: Lab, keys: Any) -> None:
    status, body, _ = lab.call("POST", "/_admin/cache/warm", {"keys": keys}, headers=AUTH)
    assert status == 400 and "keys" in body["error"]
    assert lab.app.cache.stats()["keys"] == 0


def test_cache_admin_methods(lab: Lab) -> None:
    assert lab.call("GET", "/_admin/cache/clear", headers=AUTH)[0] == 405
    assert lab.call("GET", "/_admin/cache/other", headers=AUTH)[0] == 404
    assert lab.call("POST", "/_admin/cache/warm?keys=7", headers=AUTH)[1]["warmed"] == 7


def test_admin_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = LabConfig(dir=tmp_path, port_base=20000)
    monkeypatch.delenv(cache.ADMIN_TOKEN_ENV, raising=False)
    generated = resolve_admin_token(cfg, None)
    token_file = cfg.run_dir / cache.ADMIN_TOKEN_FILE
    assert len(generated) >= 24 and token_file.read_text().strip() == generated
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    assert resolve_admin_token(cfg, None) == generated
    assert resolve_admin_token(cfg, {"platform": {"admin_token": "from-lab-json"}}) == (
        "from-lab-json"
    )
    monkeypatch.setenv(cache.ADMIN_TOKEN_ENV, "from-env")
    assert resolve_admin_token(cfg, {"platform": {"admin_token": "from-lab-json"}}) == "from-env"


# ---- /_lab control API -------------------------------------------------------------------
def test_lab_state_and_faults_are_recorded(lab: Lab) -> None:
    status, body, _ = lab.call("POST", "/_lab/faults/processor-down", {"processor": "segpay"})
    assert status == 200 and body["active"] is True
    assert body["record"]["params"] == {"processor": "segpay"} and body["record"]["at"]
    status, snap, _ = lab.call("GET", "/_lab/state")
    assert snap["processors_down"] == ["segpay"] and "processor-down" in snap["faults"]
    entries = Journal(lab.cfg.journal_file).entries()
    assert [(e["source"], e["method"], e["path"]) for e in entries] == [
        ("lab", "POST", "/_lab/faults/processor-down")
    ]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("meteor-strike", "unknown fault meteor-strike; known: api-flaky, bad-deploy"),
        ("db-down", "irdrive lab fault db-down"),
    ],
)
def test_unknown_or_external_fault_is_400(lab: Lab, name: str, fragment: str) -> None:
    status, body, _ = lab.call("POST", f"/_lab/faults/{name}")
    assert status == 400 and fragment in body["error"]
    assert lab.state.faults == {}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("processor-down", {"processor": "paypal"}),
        ("api-flaky", {"count": 0}),
        ("api-flaky", {"modes": ["418"]}),
        ("api-flaky", {"slow_seconds": -1}),
        ("resource-pressure", {"latency_ms": "slow"}),
        ("bad-deploy", {"deployment": "nope"}),
        ("bad-deploy", {"container": "sidecar"}),
    ],
)
def test_bad_fault_params_are_400_and_change_nothing(
    lab: Lab, name: str, params: dict[str, Any]
) -> None:
    before = lab.state.snapshot()
    status, body, _ = lab.call("POST", f"/_lab/faults/{name}", params)
    assert status == 400 and body["error"]
    assert lab.state.snapshot() == before and lab.store.updates == []


def test_lab_api_rejects_bad_json_and_other_clients(lab: Lab) -> None:
    assert lab.call("POST", "/_lab/faults/cdn-down", b"{not json")[0] == 400
    assert lab.call("POST", "/_lab/faults/cdn-down", b"[1]")[0] == 400
    assert lab.call("GET", "/_lab/state", client="10.213.20.2")[0] == 403
    assert lab.call("GET", "/_lab/faults/cdn-down")[0] == 405
    assert lab.call("GET", "/_lab/other")[0] == 404


def test_api_flaky_sets_the_counter(lab: Lab) -> None:
    params = {"count": 3, "modes": ["409", "slow"], "slow_seconds": 0.5}
    assert lab.call("POST", "/_lab/faults/api-flaky", params)[0] == 200
    assert [lab.state.next_flaky() for _ in range(4)] == ["409", "slow", "409", None]
    assert lab.state.flaky_slow_seconds == 0.5 and "api-flaky" not in lab.state.faults
    lab.call("POST", "/_lab/faults/api-flaky", {"count": 5})
    lab.call("DELETE", "/_lab/faults/api-flaky")
    assert lab.state.next_flaky() is None


def test_bad_deploy_rolls_a_bad_image_and_clear_marks_it_good(lab: Lab) -> None:
    status, body, _ = lab.call("POST", "/_lab/faults/bad-deploy", {"deployment": "backend"})
    assert status == 200
    bad = "registry.local/backend:1.4.2-bad"
    assert lab.state.bad_images == {bad}
    (update,) = lab.store.updates
    assert update["spec"]["template"]["spec"]["containers"][0]["image"] == bad
    assert body["record"]["previous_images"] == {"backend": "registry.local/backend:1.4.2"}
    # Injecting again changes nothing: no second rollout, no "-bad-bad".
    assert lab.call("POST", "/_lab/faults/bad-deploy", {"deployment": "backend"})[0] == 200
    assert len(lab.store.updates) == 1 and lab.state.bad_images == {bad}
    lab.call("DELETE", "/_lab/faults/bad-deploy")
    assert lab.state.bad_images == set() and "bad-deploy" not in lab.state.faults
    # Clearing does not roll back: that stays the operator's job.
    dep = lab.store.get("deployments.apps", NS, "backend")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == bad


def test_bad_deploy_retries_a_conflict(lab: Lab) -> None:
    lab.store.conflicts_to_raise = 2
    assert lab.call("POST", "/_lab/faults/bad-deploy", {"deployment": "frontend"})[0] == 200
    assert len(lab.store.updates) == 1
    assert lab.state.bad_images == {"registry.local/frontend:1.4.2-bad"}


def test_bad_deploy_gives_up_after_repeated_conflicts(lab: Lab) -> None:
    lab.store.conflicts_to_raise = 99
    status, _, _ = lab.call("POST", "/_lab/faults/bad-deploy", {"deployment": "frontend"})
    assert status == 409 and lab.state.bad_images == set() and lab.store.updates == []


def test_reset_clears_faults_and_calls_back(lab: Lab) -> None:
    for name in ("cdn-down", "processor-down", "resource-pressure", "bad-deploy"):
        assert lab.call("POST", f"/_lab/faults/{name}")[0] == 200
    lab.call("POST", "/_admin/cache/warm", {"keys": 5}, headers=AUTH)
    status, body, _ = lab.call("POST", "/_lab/reset")
    assert status == 200 and body == {"reset": True, "reseeded": True} and lab.resets == 1
    snap = lab.state.snapshot()
    assert snap["faults"] == {} and not snap["cdn_down"] and snap["processors_down"] == []
    assert snap["bad_images"] == [] and snap["extra_latency_ms"] == 0
    assert lab.app.cache.stats()["keys"] == 0


# ---- over HTTP ---------------------------------------------------------------------------
def test_http_server_headers_head_and_errors(tmp_path: Path) -> None:
    fake = Lab(tmp_path)
    server = make_platform_server(
        fake.store,
        fake.state,
        fake.cfg,
        lambda: {},
        cdn_resolver=lambda: CLOUDFRONT,
        db_check=lambda: (True, "ok"),
        admin_token=TOKEN,
        port=0,
    )
    server.serve_in_thread()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=5) as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
            assert json.loads(resp.read())["status"] == "ok"
        head = urllib.request.Request(f"{base}/cdn/test.mp4", method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as resp:
            assert resp.headers["Content-Length"] == str(len(TEST_VIDEO))
            assert resp.headers["X-Lab-Edge"] == "primary" and resp.read() == b""
        post = urllib.request.Request(
            f"{base}/_lab/faults/nope",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(post, timeout=5)
        assert err.value.code == 400
        assert err.value.headers["Cache-Control"] == "no-store"
        assert json.loads(err.value.read())["error"].startswith("unknown fault nope")
        assert server.admin_token == TOKEN
    finally:
        server.shutdown()


def test_http_server_binds_the_platform_port_and_survives_a_handler_crash(
    tmp_path: Path,
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    cfg = LabConfig(dir=tmp_path, port_base=free - 2)
    store = FakeStore()

    def broken_list(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("store exploded")

    store.put("deployments.apps", deployment("frontend", "f:1"))
    store.list = broken_list  # type: ignore[method-assign]
    server = make_platform_server(store, LabState(), cfg, lambda: None, admin_token=TOKEN)
    assert server.server_address == ("127.0.0.1", free)
    server.serve_in_thread()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{free}/health", timeout=5)
        assert err.value.code == 500
        with urllib.request.urlopen(f"http://127.0.0.1:{free}/_lab/state", timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.shutdown()


def test_database_check_logs_in_as_the_running_backend_pods(monkeypatch: Any) -> None:
    from irdrive_lab.kube.sim.pods import remember_secret_env

    store = seeded_store()
    store.private = {}  # type: ignore[attr-defined]
    for name, user, password, ready in (
        ("backend-1", "app_a", "pw-a", True),
        ("backend-2", "app_a", "pw-a", True),
        ("backend-3", "app_b", "pw-b", True),
        ("backend-4", "app_b", "stale", False),  # not ready: not counted
    ):
        store.put("pods", pod("backend", name, ready=ready))
        remember_secret_env(store, NS, name, {"DB_username": user, "DB_password": password})
    logins = dbcheck.backend_logins(store)
    assert sorted(logins) == [
        ("backend pod backend-3", ("app_b", "pw-b")),
        ("backend pods backend-1, backend-2", ("app_a", "pw-a")),
    ]
    tried: list[tuple[str, str]] = []

    def login(pg: Any, user: str, password: str) -> tuple[bool, str]:
        tried.append((user, password))
        ok = password != "pw-b"
        return ok, "ok" if ok else f'password authentication failed for user "{user}"'

    monkeypatch.setattr(dbcheck, "_postgres_login", login)
    info = {"postgres": {"host": "10.0.0.6", "port": 5432, "app_user": "x", "app_password": "y"}}
    ok, detail = dbcheck.postgres_check(lambda: info, logins)
    assert not ok and detail.startswith("backend pod backend-3 (user app_b): password")
    # Without backend logins the lab's own record is used.
    tried.clear()
    assert dbcheck.postgres_check(lambda: info, []) == (True, "ok")
    assert tried == [("x", "y")]
