"""Defaulting and validation on write, the part of kube-apiserver's strategies the lab needs.

Defaults matter to clients: kubectl dereferences ``spec.replicas`` and compares templates,
kubernetes.core diffs against what the server returns. Validation answers 422 Invalid with
field paths, as kube-apiserver does.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from irdrive_lab.kube.errors import BadRequest, invalid
from irdrive_lab.kube.resources import Resource
from irdrive_lab.kube.selectors import labels_match, selector_from_match_labels

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAMES = {"namespaces", "services"}
_service_ips: dict[str, int] = {"next": 10}


def prepare(res: Resource, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Default ``obj`` in place and raise Invalid (422) if it is not acceptable."""
    causes: list[tuple[str, str]] = []
    meta = obj["metadata"]
    name = meta.get("name") or ""
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    else:
        pattern = _DNS1123_LABEL if res.plural in _LABEL_NAMES else _DNS1123_SUBDOMAIN
        if len(name) > 253 or not pattern.match(name):
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 name must consist of lower '
                    "case alphanumeric characters, '-' or '.', and must start and end with an "
                    "alphanumeric character",
                )
            )
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and not isinstance(value, dict):
            causes.append((f"metadata.{field}", "Invalid value: must be a map of strings"))
        elif value:
            for k, v in value.items():
                if not isinstance(v, str):
                    causes.append((f"metadata.{field}.{k}", "Invalid value: must be a string"))
    handler = _HANDLERS.get(res.key)
    if handler is not None and not causes:
        handler(obj, old, causes)
    if causes:
        raise invalid(res.kind, name, res.group, causes)


def _pod_spec_defaults(spec: dict[str, Any], path: str, causes: list[tuple[str, str]]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        causes.append((f"{path}.containers", "Required value"))
        return
    for kind in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(kind) or []):
            if not isinstance(c, dict) or not c.get("name"):
                causes.append((f"{path}.{kind}[{i}].name", "Required value"))
                continue
            if not c.get("image"):
                causes.append((f"{path}.{kind}[{i}].image", "Required value"))
                continue
            image = str(c["image"])
            tag_latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
            c.setdefault("imagePullPolicy", "Always" if tag_latest else "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            for port in c.get("ports") or []:
                port.setdefault("protocol", "TCP")


def _template(
    obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]
) -> None:
    """Shared by Deployment and ReplicaSet: replicas, selector and template labels."""
    spec = obj.setdefault("spec", {})
    replicas = spec.setdefault("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        causes.append(("spec.replicas", f"Invalid value: {replicas!r}: must be an integer"))
    elif replicas < 0:
        causes.append(
            ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")
        )
    spec.setdefault("revisionHistoryLimit", 10)
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(("spec.selector", "Required value"))
        return
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(("spec.template", "Required value"))
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not labels_match(selector_from_match_labels(selector), labels):
        causes.append(
            (
                "spec.template.metadata.labels",
                f"Invalid value: {labels!r}: `selector` does not match template `labels`",
            )
        )
    if old is not None and (old.get("spec") or {}).get("selector") != selector:
        causes.append(("spec.selector", f"Invalid value: {selector!r}: field is immutable"))
    template.setdefault("metadata", {})
    _pod_spec_defaults(template.setdefault("spec", {}), "spec.template.spec", causes)


def _deployment(
    obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]
) -> None:
    _template(obj, old, causes)
    spec = obj["spec"]
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    elif strategy.get("type") != "Recreate":
        causes.append(("spec.strategy.type", f"Unsupported value: {strategy.get('type')!r}"))


def _replicaset(
    obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]
) -> None:
    _template(obj, old, causes)


def _pod(obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]) -> None:
    spec = obj.setdefault("spec", {})
    _pod_spec_defaults(spec, "spec", causes)
    if old is None and "status" not in obj:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _service(
    obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]
) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for i, port in enumerate(spec.get("ports") or []):
        if not isinstance(port.get("port"), int):
            causes.append((f"spec.ports[{i}].port", "Required value"))
            continue
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port["port"])
    old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
    if old_ip:
        spec["clusterIP"] = old_ip
    elif not spec.get("clusterIP"):
        n = _service_ips["next"]
        _service_ips["next"] = n + 1
        spec["clusterIP"] = str(ipaddress.ip_address("10.96.0.0") + n)
    if spec["clusterIP"] != "None":
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    obj.setdefault("status", {"loadBalancer": {}})


def _secret(obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    data = obj.get("data") or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except ValueError:
            causes.append((f"data[{key}]", "Invalid value: not valid base64"))
    if data:
        obj["data"] = data


def _configmap(
    obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]
) -> None:
    for key, value in (obj.get("data") or {}).items():
        if not isinstance(value, str):
            causes.append((f"data[{key}]", "Invalid value: must be a string"))


def _namespace(
    obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]
) -> None:
    obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    obj.setdefault("status", {"phase": "Active"})
    labels = obj["metadata"].setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", obj["metadata"]["name"])


def _hpa(obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]) -> None:
    spec = obj.setdefault("spec", {})
    if not spec.get("scaleTargetRef"):
        causes.append(("spec.scaleTargetRef", "Required value"))
    max_r = spec.get("maxReplicas")
    if not isinstance(max_r, int) or max_r < 1:
        causes.append(("spec.maxReplicas", f"Invalid value: {max_r!r}: must be greater than 0"))
    spec.setdefault("minReplicas", 1)


# metav1.MicroTime: decoded with Go's RFC3339Micro layout, so exactly six fraction digits.
_MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")


def _micro_time(value: Any) -> str:
    """The MicroTime as kube-apiserver serves it (UTC, six digits), or 400 as its decoder does."""
    if not isinstance(value, str) or not _MICRO_TIME.match(value):
        raise BadRequest(
            f'Lease in version "v1" cannot be handled as a Lease: parsing time {value!r} as '
            '"2006-01-02T15:04:05.000000Z07:00": cannot parse as RFC3339Micro'
        )
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lease(obj: dict[str, Any], old: dict[str, Any] | None, causes: list[tuple[str, str]]) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        raise BadRequest('Lease in version "v1" cannot be handled as a Lease: spec: not an object')
    for field in ("acquireTime", "renewTime"):
        if spec.get(field) is not None:
            spec[field] = _micro_time(spec[field])
    for field in ("leaseDurationSeconds", "leaseTransitions"):
        value = spec.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise BadRequest(
                f'Lease in version "v1" cannot be handled as a Lease: spec.{field}: '
                f"expected an integer, got {value!r}"
            )
    holder = spec.get("holderIdentity")
    if holder is not None and not isinstance(holder, str):
        raise BadRequest(
            'Lease in version "v1" cannot be handled as a Lease: spec.holderIdentity: '
            f"expected a string, got {holder!r}"
        )
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        causes.append(("spec.leaseDurationSeconds", "Invalid value: must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        causes.append(
            ("spec.leaseTransitions", "Invalid value: must be greater than or equal to 0")
        )


_HANDLERS = {
    "leases.coordination.k8s.io": _lease,
    "deployments.apps": _deployment,
    "replicasets.apps": _replicaset,
    "pods": _pod,
    "services": _service,
    "secrets": _secret,
    "configmaps": _configmap,
    "namespaces": _namespace,
    "horizontalpodautoscalers.autoscaling": _hpa,
}
