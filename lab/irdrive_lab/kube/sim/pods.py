"""Pods: what a ReplicaSet's template becomes (what the kubelet then reports is in ``kubelet``).

``build_pod`` is the ReplicaSet controller's pod from a template, already scheduled by a
toy scheduler. The environment each container would start with is resolved once, when the pod
is created, and kept in the pod's ``lab.irdrive.io/env`` annotation (secret values never, only
names); the values of secrets are remembered beside the pod in the store's private side.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from irdrive_lab.kube.errors import NotFound
from irdrive_lab.kube.sim.util import (
    ENV_ANNOTATION,
    HASH_LABEL,
    owner_ref,
    random_suffix,
    rfc3339,
)

NODES = ("lab-node-1", "lab-node-2")
NODE_IPS = {"lab-node-1": "172.18.0.2", "lab-node-2": "172.18.0.3"}


# ---- environment -------------------------------------------------------------------------
def _source(store: Any, kind: str, namespace: str, name: str) -> dict[str, str] | None:
    resource = "configmaps" if kind == "configmap" else "secrets"
    try:
        obj = store.get(resource, namespace, name)
    except NotFound:
        return None
    data = obj.get("data") or {}
    if kind == "secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    return dict(data)


def resolve_env(
    store: Any,
    namespace: str,
    pod: dict[str, Any],
    container: dict[str, Any],
    secret_values: dict[str, str] | None = None,
) -> tuple[dict[str, str | None], str | None]:
    """The container's environment: name -> value, or None where the value is a secret.

    Returns an error text (as the kubelet words it) when a required source is missing. The
    values from Secrets go into ``secret_values`` when it is given.
    """
    env: dict[str, str | None] = {}
    secret_values = {} if secret_values is None else secret_values
    for item in container.get("envFrom") or []:
        prefix = item.get("prefix", "")
        for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = item.get(key)
            if not ref:
                continue
            data = _source(store, kind, namespace, ref.get("name", ""))
            if data is None:
                if ref.get("optional"):
                    continue
                return env, f'{kind} "{ref.get("name", "")}" not found'
            for k, v in data.items():
                env[prefix + k] = None if kind == "secret" else v
                if kind == "secret":
                    secret_values[prefix + k] = v
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "value" in item or not item.get("valueFrom"):
            env[name] = str(item.get("value", ""))
            continue
        source = item["valueFrom"]
        for kind, key in (("configmap", "configMapKeyRef"), ("secret", "secretKeyRef")):
            ref = source.get(key)
            if not ref:
                continue
            data = _source(store, kind, namespace, ref.get("name", ""))
            if data is None or ref.get("key") not in data:
                if ref.get("optional"):
                    break
                if data is None:
                    return env, f'{kind} "{ref.get("name", "")}" not found'
                what = "configmap" if kind == "configmap" else "secret"
                return env, f"couldn't find key {ref.get('key')} in {what.capitalize()} " + (
                    f"{namespace}/{ref.get('name', '')}"
                )
            env[name] = None if kind == "secret" else data[ref["key"]]
            if kind == "secret":
                secret_values[name] = data[ref["key"]]
        field_ref = source.get("fieldRef")
        if field_ref:
            env[name] = _field_value(pod, field_ref.get("fieldPath", ""))
    return env, None


POD_SECRET_ENV = "pod_secret_env"
_REMEMBERED = 400  # prune entries of deleted pods beyond this many


def remember_secret_env(store: Any, namespace: str, name: str, values: dict[str, str]) -> None:
    """Keep the secret values a pod started with in the store's private side, never served."""
    private = getattr(store, "private", None)
    if private is None:
        return
    with store.lock:
        table = private.setdefault(POD_SECRET_ENV, {})
        table[(namespace, name)] = dict(values)
        if len(table) > _REMEMBERED:
            for key in list(table):
                try:
                    store.get("pods", key[0], key[1])
                except NotFound:
                    if key != (namespace, name):
                        del table[key]


def secret_env(store: Any, namespace: str, name: str) -> dict[str, str]:
    """The secret values pod ``namespace/name`` started with ({} when unknown)."""
    private = getattr(store, "private", None) or {}
    return dict(private.get(POD_SECRET_ENV, {}).get((namespace, name), {}))


def _field_value(pod: dict[str, Any], path: str) -> str:
    meta = pod.get("metadata", {})
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
        "status.podIP": pod.get("status", {}).get("podIP", ""),
        "status.hostIP": pod.get("status", {}).get("hostIP", ""),
    }
    return str(values.get(path, ""))


# ---- building pods -----------------------------------------------------------------------
def qos_class(spec: dict[str, Any]) -> str:
    requests_any = limits_any = False
    guaranteed = True
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests_any |= bool(req)
        limits_any |= bool(lim)
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim.get(r)) != lim.get(r):
                guaranteed = False
    if not requests_any and not limits_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def waiting_status(container: dict[str, Any], reason: str, message: str = "") -> dict[str, Any]:
    waiting: dict[str, Any] = {"reason": reason}
    if message:
        waiting["message"] = message
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": waiting},
        "lastState": {},
    }


def build_pod(rs: dict[str, Any], node: str, pod_ip: str, now: float, store: Any) -> dict[str, Any]:
    """The pod the ReplicaSet controller creates, bound to ``node`` and still Pending."""
    template = copy.deepcopy(rs["spec"]["template"])
    tmeta = template.get("metadata") or {}
    namespace = rs["metadata"]["namespace"]
    name = f"{rs['metadata']['name']}-{random_suffix()}"
    spec = template.get("spec") or {}
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )
    spec["nodeName"] = node
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": namespace,
            "labels": dict(tmeta.get("labels") or {}),
            "annotations": dict(tmeta.get("annotations") or {}),
            "ownerReferences": [owner_ref(rs)],
        },
        "spec": spec,
    }
    pod["metadata"]["labels"][HASH_LABEL] = rs["metadata"]["labels"].get(HASH_LABEL, "")
    containers = spec.get("containers") or []
    if containers:
        secret_values: dict[str, str] = {}
        env, _ = resolve_env(store, namespace, pod, containers[0], secret_values)
        pod["metadata"]["annotations"][ENV_ANNOTATION] = json.dumps(env, sort_keys=True)
        remember_secret_env(store, namespace, name, secret_values)
    stamp = rfc3339(now)
    pod["status"] = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodReadyToStartContainers",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            },
            {
                "type": "Initialized",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            },
            {
                "type": "Ready",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
                "reason": "ContainersNotReady",
                "message": "containers with unready status: ["
                + " ".join(c["name"] for c in containers)
                + "]",
            },
            {
                "type": "ContainersReady",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
                "reason": "ContainersNotReady",
                "message": "containers with unready status: ["
                + " ".join(c["name"] for c in containers)
                + "]",
            },
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            },
        ],
        "hostIP": NODE_IPS.get(node, "172.18.0.2"),
        "hostIPs": [{"ip": NODE_IPS.get(node, "172.18.0.2")}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": stamp,
        "qosClass": qos_class(spec),
        "containerStatuses": [waiting_status(c, "ContainerCreating") for c in containers],
    }
    return pod
