"""The seeded platform: namespaces, nodes, config, secrets, services and six deployments.

Each platform deployment is created at revision 1 (image x.y.0) and then updated to x.y.1, so
``kubectl rollout history`` shows two revisions with change causes. Secret values here are
the lab's own fake credentials.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

NAMESPACE = "platform"
REGISTRY = "registry.platform.com"
NODE_NAMES = ("lab-node-1", "lab-node-2")
KUBELET_VERSION = "v1.32.2"

SECRETS: dict[str, dict[str, str]] = {
    # the real login comes from the lab's credentials (``secrets(db_credentials=...)``)
    "db-credentials": {"username": "platform_app_a", "password": "lab-db-password-7Qm2x9"},
    "processor-api-keys": {"ccbill": "ccb_lab_4f9a1c7e2b", "segpay": "sgp_lab_8d3e6b0a51"},
    "jwt-signing-key": {"signing-key": "lab-jwt-hs256-2c81f0d9a6e4b7"},
}

CONFIGMAPS: dict[str, dict[str, str]] = {
    "payment-config": {
        "PRIMARY_PROCESSOR": "ccbill",
        "BACKUP_PROCESSOR": "segpay",
        "PROCESSOR_TIMEOUT_MS": "3000",
        "DEFAULT_CURRENCY": "USD",
        "RETRY_LIMIT": "2",
    },
    "kill-switches": {
        "payments": "enabled",
        "streaming": "enabled",
        "uploads": "enabled",
        "signups": "enabled",
        "messaging": "enabled",
        "history": "[]",
    },
}


@dataclass(frozen=True)
class App:
    name: str
    replicas: int
    version: str  # major.minor; revision 1 is .0, revision 2 is .1
    port: int
    cpu: tuple[str, str]  # request, limit
    memory: tuple[str, str]
    image_repo: str = ""

    def image(self, patch: int) -> str:
        return f"{REGISTRY}/{self.image_repo or self.name}:{self.version}.{patch}"


APPS = (
    App("frontend", 2, "3.8", 3000, ("100m", "500m"), ("128Mi", "256Mi")),
    App("backend", 3, "2.4", 8080, ("250m", "1"), ("512Mi", "1Gi")),
    App("payment-service", 2, "1.12", 8081, ("200m", "500m"), ("256Mi", "512Mi")),
    App("streaming-service", 2, "5.2", 8082, ("300m", "1"), ("256Mi", "768Mi")),
    App("video-processor", 2, "0.9", 9090, ("500m", "2"), ("1Gi", "2Gi")),
    App("nginx", 2, "1.27", 80, ("100m", "250m"), ("64Mi", "128Mi")),
)

CHANGE_CAUSES = {
    1: "initial release {image}",
    2: "deploy {image} (CHG-{num})",
}


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def namespaces() -> list[dict[str, Any]]:
    return [{"metadata": {"name": NAMESPACE, "labels": {"team": "platform"}}}]


def nodes() -> list[dict[str, Any]]:
    out = []
    for i, name in enumerate(NODE_NAMES, start=1):
        resources = {
            "cpu": "4",
            "memory": "16374584Ki",
            "pods": "110",
            "ephemeral-storage": "102626232Ki",
            "hugepages-2Mi": "0",
        }
        allocatable = dict(resources, memory="16272184Ki", **{"ephemeral-storage": "94580335255"})
        conditions = [
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
        out.append(
            {
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "beta.kubernetes.io/os": "linux",
                        "beta.kubernetes.io/arch": "amd64",
                        "node.kubernetes.io/instance-type": "lab.large",
                        "topology.kubernetes.io/zone": f"lab-zone-{'ab'[i - 1]}",
                    },
                    "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
                },
                "spec": {"podCIDR": f"10.244.{i}.0/24", "podCIDRs": [f"10.244.{i}.0/24"]},
                "status": {
                    "capacity": resources,
                    "allocatable": allocatable,
                    "conditions": [
                        {
                            "type": t,
                            "status": s,
                            "reason": r,
                            "message": m,
                            "lastHeartbeatTime": None,
                            "lastTransitionTime": None,
                        }
                        for t, s, r, m in conditions
                    ],
                    "addresses": [
                        {"type": "InternalIP", "address": f"172.18.0.{i + 1}"},
                        {"type": "Hostname", "address": name},
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                    "nodeInfo": {
                        "machineID": f"{i:032x}",
                        "systemUUID": f"0000000{i}-lab0-4e0d-9c1a-00000000000{i}",
                        "bootID": f"b00710{i:02d}-lab0-4c5e-8f00-0000000000{i:02d}",
                        "kernelVersion": "6.1.0-28-amd64",
                        "osImage": "Debian GNU/Linux 12 (bookworm)",
                        "containerRuntimeVersion": "containerd://1.7.24",
                        "kubeletVersion": KUBELET_VERSION,
                        "kubeProxyVersion": KUBELET_VERSION,
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                    },
                },
            }
        )
    return out


def configmaps() -> list[dict[str, Any]]:
    return [
        {
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"team": "platform"}},
            "data": dict(data),
        }
        for name, data in CONFIGMAPS.items()
    ]


def secrets(db_credentials: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The seeded Secrets; ``db_credentials`` (username, password) is the app's real login."""
    values = dict(SECRETS)
    if db_credentials:
        values["db-credentials"] = dict(db_credentials)
    return [
        {
            "metadata": {"name": name, "namespace": NAMESPACE},
            "type": "Opaque",
            "data": {k: _b64(v) for k, v in data.items()},
        }
        for name, data in values.items()
    ]


def services() -> list[dict[str, Any]]:
    out = [
        {
            "metadata": {"name": app.name, "namespace": NAMESPACE, "labels": {"app": app.name}},
            "spec": {
                "selector": {"app": app.name},
                "ports": [
                    {
                        "name": "http",
                        "port": 80 if app.name != "nginx" else 80,
                        "targetPort": app.port,
                        "protocol": "TCP",
                    }
                ],
            },
        }
        for app in APPS
    ]
    out.append(
        {
            "metadata": {
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
            },
            "spec": {
                "selector": {"k8s-app": "kube-dns"},
                "clusterIP": "10.96.0.10",
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        }
    )
    out.append(
        {
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": "10.96.0.1",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            },
        }
    )
    return out


def _container(app: App, patch: int) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": app.name,
        "image": app.image(patch),
        "ports": [{"name": "http", "containerPort": app.port, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": app.cpu[0], "memory": app.memory[0]},
            "limits": {"cpu": app.cpu[1], "memory": app.memory[1]},
        },
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": app.port, "scheme": "HTTP"},
            "initialDelaySeconds": 2,
            "periodSeconds": 5,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "env": [{"name": "APP_ENV", "value": "production"}, {"name": "LOG_LEVEL", "value": "info"}],
    }
    if app.name == "payment-service":
        container["envFrom"] = [{"configMapRef": {"name": "payment-config"}}]
        container["env"] += [
            {
                "name": "CCBILL_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": "processor-api-keys", "key": "ccbill"}},
            },
            {
                "name": "SEGPAY_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": "processor-api-keys", "key": "segpay"}},
            },
        ]
    elif app.name == "backend":
        container["envFrom"] = [{"secretRef": {"name": "db-credentials"}, "prefix": "DB_"}]
        container["env"] += [
            {"name": "DB_HOST", "value": "db.platform.internal"},
            {
                "name": "JWT_SIGNING_KEY",
                "valueFrom": {"secretKeyRef": {"name": "jwt-signing-key", "key": "signing-key"}},
            },
        ]
    elif app.name == "frontend":
        container["env"] += [
            {
                "name": "JWT_SIGNING_KEY",
                "valueFrom": {"secretKeyRef": {"name": "jwt-signing-key", "key": "signing-key"}},
            },
        ]
    return container


def deployment(app: App, patch: int) -> dict[str, Any]:
    image = app.image(patch)
    cause = CHANGE_CAUSES[patch + 1].format(image=image, num=4100 + len(app.name) * 7 + patch)
    return {
        "metadata": {
            "name": app.name,
            "namespace": NAMESPACE,
            "labels": {"app": app.name, "team": "platform"},
            "annotations": {"kubernetes.io/change-cause": cause},
        },
        "spec": {
            "replicas": app.replicas,
            "selector": {"matchLabels": {"app": app.name}},
            "progressDeadlineSeconds": 30,
            "revisionHistoryLimit": 10,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": app.name, "team": "platform"}},
                "spec": {
                    "containers": [_container(app, patch)],
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }


def coredns() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "coredns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1},
            },
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "containers": [
                        {
                            "name": "coredns",
                            "image": "registry.k8s.io/coredns/coredns:v1.11.3",
                            "args": ["-conf", "/etc/coredns/Corefile"],
                            "ports": [
                                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "70Mi"},
                                "limits": {"memory": "170Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }
