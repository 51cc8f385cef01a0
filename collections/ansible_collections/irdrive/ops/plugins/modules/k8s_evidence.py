# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_evidence
short_description: Preserve Kubernetes evidence - state dump, pod logs and a drift report
version_added: 0.1.0
description:
  - Writes, under O(dest), what a responder would save with C(kubectl get all -A -o yaml),
    C(kubectl logs -l <selector> --since=<window>) and C(kubectl diff -f <folder>), for an
    evidence bundle (see M(irdrive.ops.evidence_manifest), which seals it).
  - B(State dump) (O(state_dump=true)), one YAML C(List) per resource under C(k8s/state/) -
    pods, services, deployments, replicasets, daemonsets, statefulsets, jobs, cronjobs,
    horizontal pod autoscalers, configmaps, secrets, events, namespaces and nodes, in every
    namespace or in O(namespaces). Resources the cluster does not serve are reported in
    RV(not_served). C(managedFields) are left out.
  - Secrets are B(redacted) - their metadata, type and key names are kept, every value is
    replaced with C(<redacted>) (the last-applied-configuration annotation too). A secret value
    never reaches the bundle, the task result or the log.
  - B(Logs), for every pod matching one of O(log_selectors) and every container, over the last
    O(window), with timestamps, under C(k8s/logs/<namespace>/<pod>/<container>.log); the
    previous container's log too when a container restarted. C(k8s/logs/index.json) lists
    them, with the selectors that matched and any log that could not be read.
  - B(Drift report) when O(config_dir) is set - every object in the manifests of that folder is
    compared with the live object, as C(kubectl diff -f) does - only the fields the manifest
    sets count, status and server-managed metadata never do. C(drift/report.diff) holds the
    unified diffs (C(-) live, C(+) the manifest), C(drift/report.json) one entry per object.
  - Reads only from the cluster. Check mode reads the same and writes no file.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.k8s_auth
options:
  dest:
    description: The bundle folder; created when missing.
    type: path
    required: true
  state_dump:
    description: Dump the cluster's state.
    type: bool
    default: true
  namespaces:
    description: Namespaces to dump and to search for pods; empty means every namespace.
    type: list
    elements: str
    default: []
  log_selectors:
    description: Label selectors of the pods whose logs to keep, such as V(app=backend).
    type: list
    elements: str
    default: []
  window:
    description:
      - How far back to keep logs, as a duration - V(30m), V(24h), V(7d) (C(--since)).
    type: str
    default: 24h
  config_dir:
    description:
      - Folder of desired manifests (C(*.yaml), C(*.yml), C(*.json)) to compare with the live
        objects. No drift report when unset.
    type: path
  config_recursive:
    description: Read O(config_dir) recursively (C(kubectl diff -R)).
    type: bool
    default: false
  default_namespace:
    description: Namespace of manifests that name none.
    type: str
    default: default
attributes:
  check_mode:
    description: Reads everything a real run reads and reports what it would write; writes nothing.
    support: full
  diff_mode:
    description: The drift report is the diff; the task itself returns none.
    support: none
notes:
  - Pod logs are read with C(sinceSeconds); a container that never started is listed in
    RV(log_errors) and does not fail the task.
"""

EXAMPLES = r"""
- name: Preserve the cluster state, backend logs and drift for INC-1042
  irdrive.ops.k8s_evidence:
    dest: /srv/evidence/INC-1042-20261127T031200Z
    log_selectors: [app=backend, app=payment-service]
    window: 24h
    config_dir: /configs/production

- name: What would be collected (writes nothing)
  irdrive.ops.k8s_evidence:
    dest: /srv/evidence/INC-1042-dry
    log_selectors: [app=backend]
  check_mode: true
"""

RETURN = r"""
files:
  description: The files written (or that would be written), relative to O(dest), with sizes.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "k8s/state/pods.yaml", "bytes": 48211}]
objects:
  description: Number of objects dumped per resource.
  returned: always
  type: dict
  sample: {"pods": 17, "secrets": 3, "events": 120}
not_served:
  description: Resources the cluster does not serve.
  returned: always
  type: list
  elements: str
  sample: ["batch/v1/cronjobs"]
logs:
  description: Logs kept - one entry per container.
  returned: always
  type: list
  elements: dict
  sample: [{"namespace": "platform", "pod": "backend-9d98f6c76-c82gj", "container": "backend",
            "previous": false, "selectors": ["app=backend"], "bytes": 5120,
            "path": "k8s/logs/platform/backend-9d98f6c76-c82gj/backend.log"}]
log_errors:
  description: Containers whose log could not be read, and why.
  returned: always
  type: list
  elements: dict
  sample: [{"namespace": "platform", "pod": "backend-x", "container": "backend",
            "error": "container is waiting to start"}]
window_seconds:
  description: The log window in seconds.
  returned: always
  type: int
  sample: 86400
before:
  description: The files of this module already in O(dest) before the task (replaced when they differ).
  returned: always
  type: dict
  sample: {"files": []}
drift:
  description: The drift report's summary; empty when O(config_dir) is unset.
  returned: always
  type: dict
  sample: {"objects": 9, "in_sync": 8, "drifted": 1, "missing": 0,
           "drifted_objects": ["ConfigMap/platform/payment-config"]}
"""

import json
import os
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    k8s_auth_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.drift import (
    REDACTED,
    compare,
    dump_yaml,
    load_manifests,
    object_ref,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.evidence import (
    safe_relpath,
    sync_files,
    window_seconds,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_evidence import (
    EvidenceReader,
    api_root,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail

#: What ``kubectl get all`` shows, plus configuration, events and the cluster's frame.
STATE_RESOURCES: tuple[tuple[str, str, str, bool], ...] = (
    # (apiVersion, plural, kind, namespaced)
    ("v1", "pods", "Pod", True),
    ("v1", "services", "Service", True),
    ("apps/v1", "deployments", "Deployment", True),
    ("apps/v1", "replicasets", "ReplicaSet", True),
    ("apps/v1", "daemonsets", "DaemonSet", True),
    ("apps/v1", "statefulsets", "StatefulSet", True),
    ("batch/v1", "jobs", "Job", True),
    ("batch/v1", "cronjobs", "CronJob", True),
    ("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True),
    ("v1", "configmaps", "ConfigMap", True),
    ("v1", "secrets", "Secret", True),
    ("v1", "events", "Event", True),
    ("v1", "namespaces", "Namespace", False),
    ("v1", "nodes", "Node", False),
)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        dest={"type": "path", "required": True},
        state_dump={"type": "bool", "default": True},
        namespaces={"type": "list", "elements": "str", "default": []},
        log_selectors={"type": "list", "elements": "str", "default": []},
        window={"type": "str", "default": "24h"},
        config_dir={"type": "path"},
        config_recursive={"type": "bool", "default": False},
        default_namespace={"type": "str", "default": "default"},
    )
    return spec


def redact_secret(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret with its metadata and key names, every value replaced."""
    out = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(out.get(field), dict):
            out[field] = dict.fromkeys(out[field], REDACTED)
    meta = dict(out.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    if LAST_APPLIED in annotations:
        annotations[LAST_APPLIED] = REDACTED
        meta["annotations"] = annotations
    out["metadata"] = meta
    return out


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    obj = dict(obj, metadata=meta)
    return redact_secret(obj) if obj.get("kind") == "Secret" else obj


def collect_state(
    reader: EvidenceReader, namespaces: list[str], out: dict[str, bytes], result: dict[str, Any]
) -> None:
    for api_version, plural, kind, namespaced in STATE_RESOURCES:
        scopes: list[str | None] = list(namespaces) if namespaced and namespaces else [None]
        items: list[dict[str, Any]] = []
        try:
            for namespace in scopes:
                items.extend(reader.list_objects(api_version, plural, kind, namespace))
        except NotFoundError:
            result["not_served"].append(f"{api_version}/{plural}")
            continue
        document = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [clean(item) for item in items],
            "metadata": {"resourceVersion": ""},
        }
        out[f"k8s/state/{plural}.yaml"] = dump_yaml(document).encode("utf-8")
        result["objects"][plural] = len(items)


def _containers(pod: dict[str, Any]) -> list[tuple[str, int]]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    restarts = {
        s.get("name"): int(s.get("restartCount") or 0)
        for s in (status.get("initContainerStatuses") or [])
        + (status.get("containerStatuses") or [])
    }
    names = [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    return [(name, restarts.get(name, 0)) for name in names]


def collect_logs(
    reader: EvidenceReader,
    selectors: list[str],
    namespaces: list[str],
    since: int,
    out: dict[str, bytes],
    result: dict[str, Any],
) -> None:
    pods: dict[tuple[str, str], dict[str, Any]] = {}
    matched: dict[tuple[str, str], list[str]] = {}
    for selector in selectors:
        scopes: list[str | None] = list(namespaces) or [None]
        for namespace in scopes:
            path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
            found = reader.get_path(f"list pods {selector}", path, {"labelSelector": selector})
            for pod in found.get("items") or []:
                meta = pod.get("metadata") or {}
                key = (str(meta.get("namespace")), str(meta.get("name")))
                pods[key] = pod
                matched.setdefault(key, []).append(selector)
    for (namespace, name), pod in sorted(pods.items()):
        for container, restarts in _containers(pod):
            for previous in (False, True) if restarts else (False,):
                suffix = ".previous" if previous else ""
                rel = safe_relpath(f"k8s/logs/{namespace}/{name}/{container}{suffix}.log")
                entry = {
                    "namespace": namespace,
                    "pod": name,
                    "container": container,
                    "previous": previous,
                    "selectors": matched[(namespace, name)],
                }
                try:
                    text = reader.pod_log(namespace, name, container, since, previous)
                except (InvalidInputError, NotFoundError) as error:
                    result["log_errors"].append({**entry, "error": str(error)})
                    continue
                out[rel] = text
                result["logs"].append({**entry, "bytes": len(text), "path": rel})
    index = {
        "window_seconds": since,
        "selectors": selectors,
        "logs": result["logs"],
        "errors": result["log_errors"],
    }
    out["k8s/logs/index.json"] = (json.dumps(index, indent=2, sort_keys=True) + "\n").encode()


def manifest_files(config_dir: Path, recursive: bool) -> list[Path]:
    if not config_dir.is_dir():
        raise InvalidInputError(f"config_dir {config_dir} is not a folder")
    pattern = config_dir.rglob("*") if recursive else config_dir.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix in MANIFEST_SUFFIXES)


def collect_drift(
    reader: EvidenceReader,
    config_dir: Path,
    recursive: bool,
    default_namespace: str,
    out: dict[str, bytes],
    result: dict[str, Any],
) -> None:
    entries: list[dict[str, Any]] = []
    for path in manifest_files(config_dir, recursive):
        source = str(path.relative_to(config_dir))
        for obj in load_manifests(path.read_text(encoding="utf-8"), source):
            ref = object_ref(obj, default_namespace)
            label = f"{ref['kind']}/{ref['namespace']}/{ref['name']}"
            try:
                res = reader.resource(ref["api_version"], ref["kind"])
            except NotFoundError as error:
                entries.append({**ref, "file": source, "status": "error", "error": str(error)})
                continue
            root = api_root(ref["api_version"])
            scope = f"/namespaces/{ref['namespace']}" if res.get("namespaced") else ""
            try:
                live = reader.get_path(f"get {label}", f"{root}{scope}/{res['name']}/{ref['name']}")
            except NotFoundError:
                live = None
            entries.append({**ref, "file": source, **compare(obj, live, label)})
    counts = {s: sum(1 for e in entries if e["status"] == s) for s in ("in_sync", "drifted")}
    summary = {
        "config_dir": str(config_dir),
        "objects": len(entries),
        **counts,
        "missing": sum(1 for e in entries if e["status"] == "missing"),
        "errors": sum(1 for e in entries if e["status"] == "error"),
        "drifted_objects": [
            f"{e['kind']}/{e['namespace']}/{e['name']}"
            for e in entries
            if e["status"] in ("drifted", "missing")
        ],
    }
    out["drift/report.json"] = (
        json.dumps({"summary": summary, "objects": entries}, indent=2, sort_keys=True) + "\n"
    ).encode()
    out["drift/report.diff"] = "".join(e.get("diff", "") for e in entries).encode()
    result["drift"] = summary


def run_module(module: AnsibleModule, reader: EvidenceReader) -> dict[str, Any]:
    p = module.params
    since = window_seconds(p["window"])
    dest = Path(p["dest"])
    config_dir = Path(p["config_dir"]) if p["config_dir"] else None
    if config_dir is not None:
        manifest_files(config_dir, p["config_recursive"])  # bad input fails before any read
    out: dict[str, bytes] = {}
    result: dict[str, Any] = {
        "objects": {},
        "not_served": [],
        "logs": [],
        "log_errors": [],
        "drift": {},
        "window_seconds": since,
    }
    if p["state_dump"]:
        collect_state(reader, p["namespaces"], out, result)
    if p["log_selectors"]:
        collect_logs(reader, p["log_selectors"], p["namespaces"], since, out, result)
    if config_dir is not None:
        collect_drift(
            reader, config_dir, p["config_recursive"], p["default_namespace"], out, result
        )
    result.update(sync_files(dest, out, module.check_mode))
    result["dest"] = os.fspath(dest)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        auth = K8sAuth.from_params(module.params)
        reader = EvidenceReader.from_auth(auth)
        return run_module(module, reader)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
