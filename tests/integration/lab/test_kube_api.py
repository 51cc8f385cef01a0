"""Conformance of the lab's Kubernetes API, driven by kubectl v1.32 and the official client.

Where the behaviour is documented for Kubernetes, the assertion is what a real cluster does.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from helpers import requires, wait_until
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

pytestmark = requires(shutil.which("kubectl"), "kubectl is not on PATH")

NS = "conformance"


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def owned_by(owner: dict[str, Any]) -> list[dict[str, Any]]:
    meta = owner["metadata"]
    return [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def seed_rollout(store: Any, name: str) -> dict[str, Any]:
    """A deployment at revision 2 with the two ReplicaSets and the pods a controller makes."""
    dep = store.create("deployments.apps", deployment(name, image="nginx:1.26"))
    for revision, image in ((1, "nginx:1.25"), (2, "nginx:1.26")):
        template = json.loads(json.dumps(dep["spec"]["template"]))
        template["spec"]["containers"][0]["image"] = image
        template["metadata"]["labels"]["pod-template-hash"] = f"h{revision}"
        rs = store.create(
            "replicasets.apps",
            {
                "metadata": {
                    "name": f"{name}-h{revision}",
                    "namespace": NS,
                    "labels": template["metadata"]["labels"],
                    "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                    "ownerReferences": owned_by(dep),
                },
                "spec": {
                    "replicas": 2 if revision == 2 else 0,
                    "selector": {"matchLabels": template["metadata"]["labels"]},
                    "template": template,
                },
            },
        )
        for i in range(2 if revision == 2 else 0):
            store.create(
                "pods",
                {
                    "metadata": {
                        "name": f"{name}-h{revision}-{i}",
                        "namespace": NS,
                        "labels": template["metadata"]["labels"],
                        "ownerReferences": owned_by(rs),
                    },
                    "spec": template["spec"],
                },
            )
    dep = store.get("deployments.apps", NS, name)
    dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "2"
    dep = store.update("deployments.apps", dep)
    return converge(store, name)


def converge(store: Any, name: str) -> dict[str, Any]:
    """What the deployment controller reports once every replica is updated and available."""
    dep = store.get("deployments.apps", NS, name)
    n = dep["spec"]["replicas"]
    dep["status"] = {
        "observedGeneration": dep["metadata"]["generation"],
        "replicas": n,
        "updatedReplicas": n,
        "readyReplicas": n,
        "availableReplicas": n,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    }
    return store.update_status("deployments.apps", dep)


@pytest.fixture(scope="module")
def api(k8s_api: Any) -> Any:
    k8s_api.store.create("namespaces", {"metadata": {"name": NS}})
    seed_rollout(k8s_api.store, "web")
    return k8s_api


@pytest.fixture(scope="module")
def api_client(api: Any) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(api.kubeconfig))


def kubectl(api: Any, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["kubectl", *args],
        env=api.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


def raw(
    api: Any,
    method: str,
    path: str,
    body: Any = None,
    token: bool = True,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=str(api.cfg.pki_dir / "ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api.url + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {api.token}")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


# ---- reads -------------------------------------------------------------------------------
def test_kubectl_get_deployment_as_table_and_json(api: Any) -> None:
    table = kubectl(api, "-n", NS, "get", "deploy", "web").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE"]
    assert table[1].split()[:4] == ["web", "2/2", "2", "2"]
    obj = json.loads(kubectl(api, "-n", NS, "get", "deployment", "web", "-o", "json").stdout)
    meta = obj["metadata"]
    assert obj["kind"] == "Deployment" and obj["apiVersion"] == "apps/v1"
    assert meta["uid"] and meta["resourceVersion"].isdigit() and meta["generation"] >= 1
    assert meta["creationTimestamp"].endswith("Z")


def test_label_and_field_selectors(api: Any, api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    names = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=web").items}
    assert names == {"web-h2-0", "web-h2-1"}
    in_set = core.list_namespaced_pod(NS, label_selector="pod-template-hash in (h1,h2),app").items
    assert len(in_set) == 2
    assert core.list_namespaced_pod(NS, label_selector="app notin (web)").items == []
    assert core.list_namespaced_pod(NS, label_selector="!app").items == []
    one = core.list_namespaced_pod(NS, field_selector="metadata.name=web-h2-1").items
    assert [p.metadata.name for p in one] == ["web-h2-1"]
    pending = core.list_namespaced_pod(NS, field_selector="status.phase=Pending").items
    assert len(pending) == 2
    out = kubectl(api, "-n", NS, "get", "pods", "-l", "app=web", "-o", "name").stdout.split()
    assert out == ["pod/web-h2-0", "pod/web-h2-1"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(NS, label_selector="app in (web")
    assert bad.value.status == 400


def test_limit_and_continue_page_through_a_list(api: Any, api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    first = core.list_namespaced_pod(NS, limit=1)
    assert len(first.items) == 1 and first.metadata._continue
    second = core.list_namespaced_pod(NS, limit=1, _continue=first.metadata._continue)
    assert len(second.items) == 1 and not second.metadata._continue
    assert first.items[0].metadata.name != second.items[0].metadata.name


def test_not_found_is_a_status_object(api: Any) -> None:
    code, body = raw(api, "GET", f"/apis/apps/v1/namespaces/{NS}/deployments/nope")
    assert code == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


def test_requests_without_the_token_are_unauthorized(api: Any) -> None:
    code, body = raw(api, "GET", "/api/v1/namespaces", token=False)
    assert code == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
    assert raw(api, "GET", "/version")[0] == 200


# ---- writes ------------------------------------------------------------------------------
def test_three_patch_types(api: Any) -> None:
    api.store.create("deployments.apps", deployment("patchme"))
    base = ["-n", NS, "patch", "deployment", "patchme"]
    # strategic merge: containers merge by name, so the sidecar joins the existing container
    sidecar = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "sidecar",
                            "image": "busybox:1.36",
                            "env": [{"name": "A", "value": "1"}],
                        }
                    ]
                }
            }
        }
    }
    kubectl(api, *base, "-p", json.dumps(sidecar))
    env_patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "sidecar", "env": [{"name": "B", "value": "2"}]}]}
            }
        }
    }
    kubectl(api, *base, "--type=strategic", "-p", json.dumps(env_patch))
    dep = api.store.get("deployments.apps", NS, "patchme")
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert [e["name"] for e in containers[1]["env"]] == ["A", "B"]
    generation = dep["metadata"]["generation"]
    # merge patch: lists replace, null deletes
    kubectl(api, *base, "--type=merge", "-p", '{"metadata":{"labels":{"tier":"web"}}}')
    kubectl(api, *base, "--type=merge", "-p", '{"metadata":{"labels":{"tier":null}}}')
    dep = api.store.get("deployments.apps", NS, "patchme")
    assert "tier" not in dep["metadata"]["labels"]
    assert dep["metadata"]["generation"] == generation  # metadata is not spec
    # json patch
    kubectl(api, *base, "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":5}]')
    dep = api.store.get("deployments.apps", NS, "patchme")
    assert dep["spec"]["replicas"] == 5 and dep["metadata"]["generation"] == generation + 1


def test_scale_subresource(api: Any, api_client: client.ApiClient) -> None:
    api.store.create("deployments.apps", deployment("scaled", replicas=1))
    kubectl(api, "-n", NS, "scale", "deployment/scaled", "--replicas=3")
    apps = client.AppsV1Api(api_client)
    scale = apps.read_namespaced_deployment_scale("scaled", NS)
    assert scale.kind == "Scale" and scale.api_version == "autoscaling/v1"
    assert scale.spec.replicas == 3 and scale.status.selector == "app=scaled"
    scale = apps.patch_namespaced_deployment_scale("scaled", NS, {"spec": {"replicas": 0}})
    assert scale.spec.replicas == 0
    code, body = raw(
        api,
        "PATCH",
        f"/apis/apps/v1/namespaces/{NS}/deployments/scaled/scale",
        {"spec": {"replicas": -1}},
        content_type="application/merge-patch+json",
    )
    assert code == 422 and body["reason"] == "Invalid"


def test_stale_resource_version_is_a_conflict(api: Any, api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(api_client)
    api.store.create("deployments.apps", deployment("racy"))
    first = apps.read_namespaced_deployment("racy", NS)
    first.spec.replicas = 4
    apps.replace_namespaced_deployment("racy", NS, first)
    stale = first  # still carries the old resourceVersion
    stale.spec.replicas = 6
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("racy", NS, stale)
    assert err.value.status == 409
    body = json.loads(err.value.body)
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert apps.read_namespaced_deployment("racy", NS).spec.replicas == 4


def test_invalid_objects_are_rejected_with_422(api: Any) -> None:
    bad = deployment("bad")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    code, body = raw(api, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", bad)
    assert code == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    nameless = {"metadata": {}, "data": {"a": "b"}}
    code, body = raw(api, "POST", f"/api/v1/namespaces/{NS}/configmaps", nameless)
    assert code == 422 and "name or generateName is required" in body["message"]
    code, body = raw(
        api,
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps",
        {"metadata": {"generateName": "gen-"}, "data": {}},
    )
    assert code == 201 and body["metadata"]["name"].startswith("gen-")
    code, body = raw(
        api,
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps",
        {"metadata": {"name": body["metadata"]["name"]}},
    )
    assert code == 409 and body["reason"] == "AlreadyExists"


def test_dry_run_writes_nothing_but_is_journaled(api: Any) -> None:
    before = api.store.get("deployments.apps", NS, "web")
    mark = api.journal.mark()
    kubectl(
        api, "-n", NS, "patch", "deploy", "web", "--dry-run=server", "-p", '{"spec":{"replicas":9}}'
    )
    kubectl(api, "-n", NS, "scale", "deploy", "web", "--replicas=7", "--dry-run=server")
    kubectl(api, "-n", NS, "delete", "deploy", "web", "--dry-run=server")
    code, body = raw(
        api,
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps?dryRun=All",
        {"metadata": {"name": "ghost"}, "data": {"k": "v"}},
    )
    assert code == 201 and body["metadata"]["name"] == "ghost"
    assert api.store.get("deployments.apps", NS, "web") == before
    assert raw(api, "GET", f"/api/v1/namespaces/{NS}/configmaps/ghost")[0] == 404
    entries = api.journal.since(mark, source="kubernetes")
    assert len(entries) == 4
    assert all(e["dry_run"] is True and e["status"] in (200, 201) for e in entries)
    assert {e["method"] for e in entries} == {"PATCH", "DELETE", "POST"}


def test_writes_are_journaled_and_reads_are_not(api: Any) -> None:
    mark = api.journal.mark()
    kubectl(api, "-n", NS, "get", "deploy", "web")
    assert api.journal.since(mark) == []
    kubectl(api, "-n", NS, "annotate", "deploy", "web", "lab.irdrive.io/touched=yes")
    (entry,) = api.journal.since(mark)
    assert entry["method"] == "PATCH" and entry["status"] == 200 and entry["dry_run"] is False
    assert entry["path"].startswith(f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    assert entry["body_sha256"].startswith("sha256:")


def test_cascading_delete_collects_replicasets_and_pods(api: Any) -> None:
    seed_rollout(api.store, "doomed")
    assert len(api.store.list("pods", NS, "app=doomed")[0]) == 2
    kubectl(api, "-n", NS, "delete", "deployment", "doomed")
    assert api.store.list("replicasets.apps", NS, "app=doomed")[0] == []
    assert api.store.list("pods", NS, "app=doomed")[0] == []


# ---- watch -------------------------------------------------------------------------------
def test_watch_streams_a_change(api: Any, api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(api_client)
    api.store.create("deployments.apps", deployment("watched"))
    rv = apps.list_namespaced_deployment(NS).metadata.resource_version
    seen: list[tuple[str, int]] = []

    def consume() -> None:
        stream = watch.Watch().stream(
            apps.list_namespaced_deployment,
            NS,
            resource_version=rv,
            field_selector="metadata.name=watched",
            timeout_seconds=5,
        )
        for event in stream:
            seen.append((event["type"], event["object"].spec.replicas))
            if event["type"] == "MODIFIED" and event["object"].spec.replicas == 3:
                break

    thread = threading.Thread(target=consume)
    thread.start()
    # A first change tells when the watch is connected: the second one then arrives live.
    apps.patch_namespaced_deployment("watched", NS, {"metadata": {"labels": {"step": "one"}}})
    wait_until(lambda: seen, timeout=10, what="the watch to stream its first change")
    apps.patch_namespaced_deployment("watched", NS, {"spec": {"replicas": 3}})
    thread.join(timeout=10)
    assert ("MODIFIED", 3) in seen


def test_watch_from_a_compacted_version_is_gone(api: Any) -> None:
    code, body = raw(api, "GET", f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion=abc")
    assert code == 400
    api.store._compacted = 5  # as if the event history had been trimmed
    try:
        code, body = raw(api, "GET", f"/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion=2")
    finally:
        api.store._compacted = 0
    assert code == 410 and body["code"] == 410


def test_rollout_status_history_and_undo(api: Any) -> None:
    status = kubectl(api, "-n", NS, "rollout", "status", "deployment/web", "--timeout=10s")
    assert 'deployment "web" successfully rolled out' in status.stdout
    history = kubectl(api, "-n", NS, "rollout", "history", "deployment/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    kubectl(api, "-n", NS, "rollout", "undo", "deployment/web", "--to-revision=1")
    dep = api.store.get("deployments.apps", NS, "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert "pod-template-hash" not in dep["spec"]["template"]["metadata"]["labels"]
    kubectl(api, "-n", NS, "rollout", "restart", "deployment/web")
    dep = api.store.get("deployments.apps", NS, "web")
    assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"]["annotations"]


# ---- logs and metrics --------------------------------------------------------------------
def test_logs_by_label_with_tail(api: Any) -> None:
    api.sim.log_calls.clear()
    out = kubectl(api, "-n", NS, "logs", "-l", "app=web", "--tail=5").stdout.splitlines()
    expected = [f"web-h2-{i}/app line {n}" for i in (0, 1) for n in range(16, 21)]
    assert sorted(out) == sorted(expected), out
    calls = [(c["pod"], c["container"], c["tail_lines"]) for c in api.sim.log_calls]
    assert sorted(calls) == [("web-h2-0", "app", 5), ("web-h2-1", "app", 5)], calls
    kubectl(api, "-n", NS, "logs", "web-h2-0", "--since=30s", "--timestamps", "--previous")
    call = api.sim.log_calls[-1]
    assert (call["since_seconds"], call["timestamps"], call["previous"]) == (30, True, True)
    bad = kubectl(api, "-n", NS, "logs", "web-h2-0", "-c", "nope", check=False)
    assert bad.returncode != 0 and "container nope is not valid" in bad.stderr


def test_kubectl_top(api: Any) -> None:
    pods = kubectl(api, "-n", NS, "top", "pods", "-l", "app=web").stdout.splitlines()
    assert pods[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert sorted(line.split()[0] for line in pods[1:]) == ["web-h2-0", "web-h2-1"]
    nodes = kubectl(api, "top", "nodes").stdout
    assert "lab-node-1" in nodes and "250m" in nodes


# ---- discovery and faults ----------------------------------------------------------------
def test_discovery_for_dynamic_client_and_kubectl(api: Any, api_client: client.ApiClient) -> None:
    dyn = DynamicClient(api_client)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and "deploy" in deployments.short_names
    got = deployments.get(name="web", namespace=NS)
    assert got.metadata.name == "web"
    scale = dyn.resources.get(api_version="apps/v1", kind="Deployment").subresources["scale"]
    assert scale.kind == "Scale"
    leases = dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    leases.create(
        body={"metadata": {"name": "lock"}, "spec": {"holderIdentity": "me"}}, namespace=NS
    )
    assert leases.get(name="lock", namespace=NS).spec.holderIdentity == "me"
    names = kubectl(api, "api-resources", "-o", "name").stdout.split()
    assert {"deployments.apps", "pods", "horizontalpodautoscalers.autoscaling"} <= set(names)


def test_api_flaky_fault(api: Any) -> None:
    with api.state.lock:
        api.state.flaky_remaining = 3
        api.state.flaky_counter = 0
        api.state.flaky_modes = ["500", "409", "slow"]
        api.state.flaky_slow_seconds = 0.3
    path = f"/api/v1/namespaces/{NS}/configmaps"
    assert raw(api, "GET", path)[0] == 500
    code, body = raw(api, "POST", path, {"metadata": {"name": "flaky"}})
    assert code == 409 and body["reason"] == "Conflict"
    started = time.monotonic()
    assert raw(api, "POST", path, {"metadata": {"name": "flaky"}})[0] == 201
    assert time.monotonic() - started >= 0.3
    assert raw(api, "GET", path)[0] == 200
