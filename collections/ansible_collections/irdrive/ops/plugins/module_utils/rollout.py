# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Deployment rollouts: rollback plans (what ``kubectl rollout undo`` does) and the rollout wait.

The planning functions are pure: they work on the JSON dicts the Kubernetes API returns.
``RolloutClient`` adds the few calls the rollback and scale modules need to ``K8sClient``;
``wait_for_rollouts`` waits for several deployments at once (``waiter.poll_until``).  The
replica and autoscaler planning of the scale module is in ``scale``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    DeadlineExceeded,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import (
    APPS,
    JSON_PATCH,
    MERGE_PATCH,
    K8sClient,
    ns_path,
)
from ansible_collections.irdrive.ops.plugins.module_utils.waiter import poll_until
from ansible_collections.irdrive.ops.plugins.module_utils.workload import (
    pod_problem,
    summarize_deployment,
)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets
RESTART_KEY = "irdrive.io/restart-key"  # our idempotency key of a restart
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
#: Deployment annotations a rollback keeps instead of taking the ReplicaSet's (as kubectl does).
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
    }
)
#: Where irdrive records a rollback it made, on the Deployment (JSON).
ROLLBACK_RECORD = "irdrive.io/rollback"
AUTOSCALING = "/apis/autoscaling/v2"


class RolloutClient(K8sClient):
    """``K8sClient`` plus JSON patches, scaling and HorizontalPodAutoscalers."""

    def json_patch_deployment(
        self, namespace: str, name: str, operations: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return self.request(
            "PATCH",
            ns_path(APPS, namespace, "deployments", name),
            body=operations,
            content_type=JSON_PATCH,
            what=f"patch deployment {namespace}/{name}",
        )

    def set_replicas(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        """What ``kubectl scale`` does: patch spec.replicas (last writer wins)."""
        return self.request(
            "PATCH",
            ns_path(APPS, namespace, "deployments", name),
            body={"spec": {"replicas": replicas}},
            content_type=MERGE_PATCH,
            what=f"scale deployment {namespace}/{name}",
        )

    def list_hpas(self, namespace: str) -> list[dict[str, Any]]:
        result = self.request(
            "GET",
            ns_path(AUTOSCALING, namespace, "horizontalpodautoscalers"),
            what=f"list horizontalpodautoscalers in {namespace}",
        )
        return list(result.get("items") or [])

    def create_hpa(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request(
            "POST",
            ns_path(AUTOSCALING, namespace, "horizontalpodautoscalers"),
            body=body,
            what=f"create horizontalpodautoscaler {namespace}/{body['metadata']['name']}",
        )

    def patch_hpa(
        self, namespace: str, name: str, spec: dict[str, Any], resource_version: str
    ) -> dict[str, Any]:
        body = {"metadata": {"resourceVersion": resource_version}, "spec": spec}
        return self.request(
            "PATCH",
            ns_path(AUTOSCALING, namespace, "horizontalpodautoscalers", name),
            body=body,
            content_type=MERGE_PATCH,
            what=f"patch horizontalpodautoscaler {namespace}/{name}",
        )


# ---- templates and revisions ----------------------------------------------------------------
def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict(_meta(obj).get("annotations") or {})


def template_of(obj: dict[str, Any]) -> dict[str, Any]:
    return (obj.get("spec") or {}).get("template") or {}


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """The pod template minus the ``pod-template-hash`` label a ReplicaSet adds."""
    result = copy.deepcopy(template)
    labels = (result.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return result


def same_template(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return without_hash(a) == without_hash(b)


def images(template: dict[str, Any]) -> list[str]:
    containers = (template.get("spec") or {}).get("containers") or []
    return [str(c.get("image")) for c in containers]


def revision_of(obj: dict[str, Any]) -> int:
    try:
        return int(_annotations(obj).get(REVISION) or 0)
    except ValueError:
        return 0


def revisions_of(rs: dict[str, Any]) -> list[int]:
    """The revision a ReplicaSet holds now and the ones it held before (revision-history)."""
    history = [h for h in _annotations(rs).get(REVISION_HISTORY, "").split(",") if h.strip()]
    found = [int(h) for h in history if h.strip().isdigit()]
    return sorted({revision_of(rs), *found} - {0})


def template_hash(rs: dict[str, Any]) -> str | None:
    return (_meta(rs).get("labels") or {}).get(HASH_LABEL)


def owned_replicasets(
    deployment: dict[str, Any], replicasets: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The ReplicaSets the deployment controls (by owner reference uid)."""
    uid = _meta(deployment).get("uid")
    return [
        rs
        for rs in replicasets
        if any(
            ref.get("kind") == "Deployment" and ref.get("uid") == uid and ref.get("controller")
            for ref in _meta(rs).get("ownerReferences") or []
        )
    ]


def current_replicaset(
    deployment: dict[str, Any], owned: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The ReplicaSet whose template is the deployment's (the controller's "new" one)."""
    matches = [rs for rs in owned if same_template(template_of(rs), template_of(deployment))]
    matches.sort(key=lambda rs: str(_meta(rs).get("creationTimestamp", "")))
    return matches[0] if matches else None


def rollback_record(deployment: dict[str, Any]) -> dict[str, Any] | None:
    raw = _annotations(deployment).get(ROLLBACK_RECORD)
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def state_of(deployment: dict[str, Any]) -> dict[str, Any]:
    """Revision, images and replicas: what a change report shows as before/after."""
    return {
        "revision": revision_of(deployment),
        "images": images(template_of(deployment)),
        "replicas": (deployment.get("spec") or {}).get("replicas", 1),
    }


def plan_rollback(
    deployment: dict[str, Any], replicasets: list[dict[str, Any]], to_revision: int = 0
) -> dict[str, Any]:
    """What a rollback of ``deployment`` would do, like ``kubectl rollout undo``.

    ``action`` is ``rollback``, ``skip`` (nothing to do) or ``impossible`` (no such revision);
    ``reason`` says why. With ``to_revision=0`` the target is the newest revision older than
    the current one, unless the current template is the one an earlier irdrive rollback put in
    place (the ``irdrive.io/rollback`` record): then the rollback is done, and a re-run does not
    roll back again to the bad revision it left.
    """
    name = str(_meta(deployment).get("name"))
    owned = owned_replicasets(deployment, replicasets)
    current_rs = current_replicaset(deployment, owned)
    current_rev = revision_of(deployment)
    plan: dict[str, Any] = {
        "name": name,
        "current": {"revision": current_rev, "images": images(template_of(deployment))},
        "target": None,
    }

    def done(action: str, reason: str, target_rs: dict[str, Any] | None = None) -> dict[str, Any]:
        plan.update(action=action, reason=reason)
        if target_rs is not None:
            plan["target"] = {
                "revision": revision_of(target_rs),
                "images": images(template_of(target_rs)),
            }
            plan["target_rs"] = target_rs
        return plan

    if to_revision:
        target = next((rs for rs in owned if to_revision in revisions_of(rs)), None)
        if target is None:
            known = sorted({r for rs in owned for r in revisions_of(rs)})
            return done(
                "impossible",
                f"revision {to_revision} is not in the rollout history of {name} "
                f"(known: {', '.join(map(str, known)) or 'none'})",
            )
        if target is current_rs:
            return done(
                "skip",
                f"already runs the template of revision {to_revision} (now revision {current_rev})",
                target,
            )
        return done("rollback", f"revision {current_rev} -> revision {to_revision}", target)

    record = rollback_record(deployment)
    if record and current_rs is not None and record.get("to_hash") == template_hash(current_rs):
        return done(
            "skip",
            f"already rolled back by irdrive from revision {record.get('from_revision')} "
            f"({', '.join(record.get('from_images') or [])}); name a revision to go further back",
            current_rs,
        )
    older = [rs for rs in owned if rs is not current_rs and 0 < revision_of(rs) < current_rev]
    if not older:
        return done("impossible", f"{name} has no earlier revision in its rollout history")
    target = max(older, key=revision_of)
    if same_template(template_of(target), template_of(deployment)):
        return done("skip", f"already runs the template of revision {revision_of(target)}", target)
    return done("rollback", f"revision {current_rev} -> revision {revision_of(target)}", target)


def rollback_operations(
    deployment: dict[str, Any], plan: dict[str, Any], now: str
) -> list[dict[str, Any]]:
    """The JSON patch ``kubectl rollout undo`` sends, plus irdrive's record and a precondition.

    The target ReplicaSet's template (minus the hash label) replaces the deployment's; its
    annotations replace the deployment's, except the ones the controller owns. The
    resourceVersion makes the write fail with 409 if the deployment changed since it was read.
    """
    target_rs = plan["target_rs"]
    current = _annotations(deployment)
    annotations = {k: v for k, v in current.items() if k in SKIPPED_ANNOTATIONS}
    annotations.update(
        {
            k: v
            for k, v in _annotations(target_rs).items()
            if k not in SKIPPED_ANNOTATIONS and k != ROLLBACK_RECORD
        }
    )
    annotations[ROLLBACK_RECORD] = json.dumps(
        {
            "from_revision": plan["current"]["revision"],
            "from_images": plan["current"]["images"],
            "to_revision": plan["target"]["revision"],
            "to_images": plan["target"]["images"],
            "to_hash": template_hash(target_rs),
            "at": now,
        },
        sort_keys=True,
    )
    return [
        {
            "op": "replace",
            "path": "/metadata/resourceVersion",
            "value": _meta(deployment).get("resourceVersion"),
        },
        {"op": "replace", "path": "/spec/template", "value": without_hash(template_of(target_rs))},
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
    ]


# ---- waiting ----------------------------------------------------------------------------------
#: The first gap between two reads of a rollout; the gaps grow to the task's ``wait_sleep``.
FIRST_READ_GAP = 0.05


def describe(deployment: dict[str, Any]) -> str:
    s = summarize_deployment(deployment)
    return (
        f"revision {s['revision']} ({', '.join(s['images'])}), "
        f"{s['available']}/{s['desired']} available, {s['updated']}/{s['desired']} updated"
    )


def wait_for_rollouts(
    client: K8sClient,
    namespace: str,
    names: list[str],
    timeout: float,
    sleep: float,
    check: Callable[[dict[str, Any]], str | None] | None = None,
) -> tuple[dict[str, dict[str, Any]], float]:
    """Wait until every deployment's rollout is complete and ``check`` finds no problem.

    Complete is what ``kubectl rollout status`` says: the controller saw the latest generation
    and every replica is updated, ready and available, with no old one left. ``check(deployment)``
    returns a problem (for example "image is X, expected Y") or None. On timeout it raises
    DeadlineExceeded naming each deployment that is not done, its state and its pods' reasons.
    """
    pending = list(dict.fromkeys(names))
    done: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}

    def complete() -> dict[str, dict[str, Any]] | None:
        problems.clear()
        for name in list(pending):
            deployment = client.get_deployment(namespace, name)
            summary = summarize_deployment(deployment)
            problem = "; ".join(summary["problems"]) or (check(deployment) if check else None)
            done[name] = deployment
            if problem:
                problems[name] = problem
            else:
                pending.remove(name)
        return None if pending else done

    waited = poll_until(
        complete,
        timeout,
        sleep,
        first_interval=FIRST_READ_GAP,
        on_timeout=lambda: _timeout(client, namespace, pending, done, problems, timeout),
    )
    return waited.value, waited.elapsed


def _timeout(
    client: K8sClient,
    namespace: str,
    pending: list[str],
    deployments: dict[str, dict[str, Any]],
    problems: dict[str, str],
    timeout: float,
) -> DeadlineExceeded:
    states = {}
    parts = []
    for name in pending:
        deployment = deployments[name]
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = [p for p in map(pod_problem, client.list_pods(namespace, label_selector)) if p]
        reasons = sorted({str(p["reason"]) for p in pods if p.get("reason")})
        states[name] = {
            **summarize_deployment(deployment),
            "problem": problems.get(name),
            "unhealthy_pods": pods,
        }
        parts.append(
            f"{name}: {describe(deployment)}; {problems.get(name)}"
            + (f"; pods: {', '.join(reasons)}" if reasons else "")
        )
    return DeadlineExceeded(f"not complete after {timeout:g}s: " + " | ".join(parts), states=states)
