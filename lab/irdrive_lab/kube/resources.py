"""The registry of resources the lab's API serves: group, version, kind, plural, scope, verbs.

A resource is named as kube-apiserver names it for RBAC and for ``kubectl get``: the plural for
the core group (``pods``) and ``plural.group`` otherwise (``deployments.apps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list")


@dataclass(frozen=True)
class Resource:
    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # subresource name -> (kind served, verbs)
    subresources: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    has_status: bool = True

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def base_path(self, namespace: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"


_STATUS = ("get", "patch", "update")

RESOURCES: tuple[Resource, ...] = (
    Resource(
        "namespaces",
        "namespace",
        "Namespace",
        "",
        "v1",
        False,
        ("ns",),
        ("create", "delete", "get", "list", "patch", "update", "watch"),
        {"status": ("Namespace", _STATUS)},
    ),
    Resource(
        "pods",
        "pod",
        "Pod",
        "",
        "v1",
        True,
        ("po",),
        subresources={
            "status": ("Pod", _STATUS),
            "log": ("Pod", ("get",)),
        },
        categories=("all",),
    ),
    Resource(
        "services",
        "service",
        "Service",
        "",
        "v1",
        True,
        ("svc",),
        subresources={"status": ("Service", _STATUS)},
        categories=("all",),
    ),
    Resource("configmaps", "configmap", "ConfigMap", "", "v1", True, ("cm",), has_status=False),
    Resource("secrets", "secret", "Secret", "", "v1", True, (), has_status=False),
    Resource("events", "event", "Event", "", "v1", True, ("ev",), has_status=False),
    Resource(
        "nodes",
        "node",
        "Node",
        "",
        "v1",
        False,
        ("no",),
        subresources={"status": ("Node", _STATUS)},
    ),
    Resource(
        "deployments",
        "deployment",
        "Deployment",
        "apps",
        "v1",
        True,
        ("deploy",),
        subresources={
            "scale": ("Scale", _STATUS),
            "status": ("Deployment", _STATUS),
        },
        categories=("all",),
    ),
    Resource(
        "replicasets",
        "replicaset",
        "ReplicaSet",
        "apps",
        "v1",
        True,
        ("rs",),
        subresources={
            "scale": ("Scale", _STATUS),
            "status": ("ReplicaSet", _STATUS),
        },
        categories=("all",),
    ),
    Resource(
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        "autoscaling",
        "v2",
        True,
        ("hpa",),
        subresources={"status": ("HorizontalPodAutoscaler", _STATUS)},
        categories=("all",),
    ),
    Resource("leases", "lease", "Lease", "coordination.k8s.io", "v1", True, (), has_status=False),
)

# metrics.k8s.io is served from the simulation's numbers, not from the store.
METRICS_RESOURCES: tuple[Resource, ...] = (
    Resource("pods", "", "PodMetrics", "metrics.k8s.io", "v1beta1", True, (), READ_VERBS),
    Resource("nodes", "", "NodeMetrics", "metrics.k8s.io", "v1beta1", False, (), READ_VERBS),
)

BY_KEY: dict[str, Resource] = {r.key: r for r in RESOURCES}

# group -> preferred version -> resources (one version per group in the lab)
GROUPS: dict[str, tuple[str, tuple[Resource, ...]]] = {}
for _res in RESOURCES + METRICS_RESOURCES:
    _version, _members = GROUPS.get(_res.group, (_res.version, ()))
    GROUPS[_res.group] = (_version, _members + (_res,))


def lookup(key: str) -> Resource:
    """The resource for a store key such as ``pods`` or ``deployments.apps``."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown resource {key!r}") from None


def find(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at ``/apis/<group>/<version>/<plural>`` (or ``/api/v1/<plural>``)."""
    entry = GROUPS.get(group)
    if entry is None or entry[0] != version:
        return None
    for res in entry[1]:
        if res.plural == plural:
            return res
    return None
