"""The Deployment controller, after kube-controller-manager's pkg/controller/deployment.

Per deployment and tick: find the new ReplicaSet (template equal to the deployment's, the
``pod-template-hash`` label aside) or create it with the next revision; scale ReplicaSets for
the RollingUpdate or Recreate strategy; delete old ReplicaSets beyond revisionHistoryLimit;
and write the status with the Available and Progressing conditions ``kubectl rollout status``
reads.
"""

from __future__ import annotations

import copy
from typing import Any

from irdrive_lab.kube.errors import AlreadyExists
from irdrive_lab.kube.sim.events import EventRecorder
from irdrive_lab.kube.sim.util import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    REVISION_HISTORY,
    SKIPPED_ANNOTATIONS,
    equal_ignore_hash,
    get_condition,
    owner_ref,
    parse_time,
    pod_template_hash,
    resolve_int_or_percent,
    revision_of,
    rfc3339,
)

COMPONENT = "deployment-controller"


def replicas_of(obj: dict[str, Any]) -> int:
    value = obj.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


def _status_int(obj: dict[str, Any], key: str) -> int:
    return int((obj.get("status") or {}).get(key) or 0)


def max_surge(d: dict[str, Any]) -> int:
    return _surge_unavailable(d)[0]


def max_unavailable(d: dict[str, Any]) -> int:
    return _surge_unavailable(d)[1]


def _surge_unavailable(d: dict[str, Any]) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts; Recreate has neither surge nor unavailability."""
    strategy = d["spec"].get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    replicas = replicas_of(d)
    rolling = strategy.get("rollingUpdate") or {}
    surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    if replicas == 0:
        unavailable = 0
    return surge, min(unavailable, replicas)


def deployment_complete(d: dict[str, Any], status: dict[str, Any]) -> bool:
    want = replicas_of(d)
    return (
        int(status.get("updatedReplicas") or 0) == want
        and int(status.get("replicas") or 0) == want
        and int(status.get("availableReplicas") or 0) == want
        and int(status.get("observedGeneration") or 0) >= d["metadata"].get("generation", 1)
    )


def _progressing(d: dict[str, Any], new: dict[str, Any]) -> bool:
    old = d.get("status") or {}

    def n(s: dict[str, Any], k: str) -> int:
        return int(s.get(k) or 0)

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(new, "replicas") - n(new, "updatedReplicas")
    return (
        n(new, "updatedReplicas") > n(old, "updatedReplicas")
        or new_old < old_old
        or n(new, "readyReplicas") > n(old, "readyReplicas")
        or n(new, "availableReplicas") > n(old, "availableReplicas")
    )


def _condition(ctype: str, status: str, reason: str, message: str, now: float) -> dict[str, Any]:
    stamp = rfc3339(now)
    return {
        "type": ctype,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """deploymentutil.SetDeploymentCondition: no-op on same status+reason, else replace."""
    current = get_condition(status, cond["type"])
    if current and current["status"] == cond["status"] and current["reason"] == cond["reason"]:
        return
    if current and current["status"] == cond["status"]:
        cond["lastTransitionTime"] = current["lastTransitionTime"]
    others = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    status["conditions"] = others + [cond]


def _strip_zero(status: dict[str, Any]) -> dict[str, Any]:
    """Status ints are omitempty in the API types."""
    return {k: v for k, v in status.items() if not (isinstance(v, int) and v == 0)}


class DeploymentController:
    def __init__(self, store: Any, events: EventRecorder) -> None:
        self.store = store
        self.events = events
        self._stored_status: dict[str, Any] | None = None  # the synced deployment's, as stored

    # ---- entry point ---------------------------------------------------------------------
    def sync(self, d: dict[str, Any], owned: list[dict[str, Any]], now: float) -> None:
        if d["metadata"].get("deletionTimestamp"):
            return
        self._stored_status = copy.deepcopy(d.get("status"))
        self._check_paused_conditions(d, now)
        if d["spec"].get("paused"):
            new_rs, old_rss = self._new_and_old(d, owned, now, create=False)
            self._scale_paused(d, new_rs, old_rss)
            self._cleanup(d, old_rss)
            self._write_status(d, new_rs, old_rss, now, rollout=False)
            return
        recreate = (d["spec"].get("strategy") or {}).get("type") == "Recreate"
        if recreate:
            self._rollout_recreate(d, owned, now)
        else:
            self._rollout_rolling(d, owned, now)

    # ---- finding and creating the new ReplicaSet -----------------------------------------
    def _new_and_old(
        self, d: dict[str, Any], owned: list[dict[str, Any]], now: float, create: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        template = d["spec"]["template"]
        matches = [rs for rs in owned if equal_ignore_hash(rs["spec"]["template"], template)]
        matches.sort(key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        existing = matches[0] if matches else None
        old_rss = [rs for rs in owned if rs is not existing]
        max_old = max((revision_of(rs) for rs in old_rss), default=0)
        new_revision = max_old + 1
        if existing is not None:
            self._refresh_new_rs(d, existing, new_revision)
            if get_condition(d.get("status") or {}, "Progressing") is None and self._has_deadline(
                d
            ):
                status = d.setdefault("status", {})
                set_condition(
                    status,
                    _condition(
                        "Progressing",
                        "True",
                        "FoundNewReplicaSet",
                        f'Found new replica set "{existing["metadata"]["name"]}"',
                        now,
                    ),
                )
            self._set_revision(d, revision_of(existing))
            return existing, old_rss
        if not create:
            return None, old_rss
        created = self._create_new_rs(d, old_rss, new_revision, now)
        self._set_revision(d, new_revision)
        return created, old_rss

    def _refresh_new_rs(self, d: dict[str, Any], rs: dict[str, Any], new_revision: int) -> None:
        """SetNewReplicaSetAnnotations: copy annotations, move the revision up (rollback)."""
        before = copy.deepcopy(rs)
        annotations = rs["metadata"].setdefault("annotations", {})
        for k, v in (d["metadata"].get("annotations") or {}).items():
            if k not in SKIPPED_ANNOTATIONS:
                annotations[k] = v
        old_revision = revision_of(rs)
        if old_revision < new_revision:
            if old_revision:
                history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
                annotations[REVISION_HISTORY] = ",".join(history + [str(old_revision)])
            annotations[REVISION] = str(new_revision)
        self._set_replica_annotations(d, rs)
        min_ready = d["spec"].get("minReadySeconds")
        if rs["spec"].get("minReadySeconds") != min_ready:
            if min_ready is None:
                rs["spec"].pop("minReadySeconds", None)
            else:
                rs["spec"]["minReadySeconds"] = min_ready
        if rs != before:
            rs.update(self.store.update("replicasets.apps", rs, check_rv=False))

    def _set_replica_annotations(self, d: dict[str, Any], rs: dict[str, Any]) -> None:
        annotations = rs["metadata"].setdefault("annotations", {})
        annotations[DESIRED_REPLICAS] = str(replicas_of(d))
        annotations[MAX_REPLICAS] = str(replicas_of(d) + max_surge(d))

    def _set_revision(self, d: dict[str, Any], revision: int) -> None:
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION) != str(revision):
            annotations[REVISION] = str(revision)
            updated = self.store.update("deployments.apps", d, check_rv=False)
            d["metadata"] = updated["metadata"]

    def _create_new_rs(
        self, d: dict[str, Any], old_rss: list[dict[str, Any]], revision: int, now: float
    ) -> dict[str, Any]:
        template = copy.deepcopy(d["spec"]["template"])
        collisions = int((d.get("status") or {}).get("collisionCount") or 0)
        replicas = self._new_rs_replicas(d, old_rss, None)
        while True:
            pth = pod_template_hash(template, collisions)
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels[HASH_LABEL] = pth
            template.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(d["spec"]["selector"])
            selector.setdefault("matchLabels", {})[HASH_LABEL] = pth
            annotations = {
                k: v
                for k, v in (d["metadata"].get("annotations") or {}).items()
                if k not in SKIPPED_ANNOTATIONS
            }
            annotations[REVISION] = str(revision)
            rs: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{d['metadata']['name']}-{pth}",
                    "namespace": d["metadata"]["namespace"],
                    "labels": labels,
                    "annotations": annotations,
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": {
                    "replicas": replicas,
                    "selector": selector,
                    "template": template,
                },
            }
            if d["spec"].get("minReadySeconds") is not None:
                rs["spec"]["minReadySeconds"] = d["spec"]["minReadySeconds"]
            self._set_replica_annotations(d, rs)
            try:
                created = self.store.create("replicasets.apps", rs)
                break
            except AlreadyExists:
                collisions += 1
                d.setdefault("status", {})["collisionCount"] = collisions
        name = created["metadata"]["name"]
        if replicas > 0:
            self.events.record(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {name} from 0 to {replicas}",
                COMPONENT,
            )
        if self._has_deadline(d):
            status = d.setdefault("status", {})
            set_condition(
                status,
                _condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{name}"',
                    now,
                ),
            )
        return created

    # ---- scaling -------------------------------------------------------------------------
    def _new_rs_replicas(
        self, d: dict[str, Any], all_rss: list[dict[str, Any]], new_rs: dict[str, Any] | None
    ) -> int:
        """deploymentutil.NewRSNewReplicas."""
        current_new = replicas_of(new_rs) if new_rs else 0
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            return replicas_of(d)
        pods = sum(replicas_of(rs) for rs in all_rss)
        max_total = replicas_of(d) + max_surge(d)
        if pods >= max_total:
            return current_new
        return current_new + min(max_total - pods, replicas_of(d) - current_new)

    def scale_rs(self, d: dict[str, Any], rs: dict[str, Any], replicas: int) -> bool:
        old = replicas_of(rs)
        annotations_before = dict(rs["metadata"].get("annotations") or {})
        rs["spec"]["replicas"] = replicas
        self._set_replica_annotations(d, rs)
        if old == replicas and annotations_before == rs["metadata"]["annotations"]:
            return False
        rs.update(self.store.update("replicasets.apps", rs, check_rv=False))
        if old != replicas:
            direction = "up" if replicas > old else "down"
            self.events.record(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} from {old} to {replicas}",
                COMPONENT,
            )
        return old != replicas

    def _scale_paused(
        self, d: dict[str, Any], new_rs: dict[str, Any] | None, old_rss: list[dict[str, Any]]
    ) -> None:
        """A paused deployment still follows spec.replicas when one ReplicaSet is active."""
        active = [rs for rs in old_rss + ([new_rs] if new_rs else []) if replicas_of(rs) > 0]
        if len(active) == 1:
            self.scale_rs(d, active[0], replicas_of(d))
        elif not active and new_rs is not None:
            self.scale_rs(d, new_rs, replicas_of(d))

    def _rollout_rolling(self, d: dict[str, Any], owned: list[dict[str, Any]], now: float) -> None:
        new_rs, old_rss = self._new_and_old(d, owned, now, create=True)
        assert new_rs is not None
        all_rss = old_rss + [new_rs]
        if self._reconcile_new(d, all_rss, new_rs) or self._reconcile_old(d, old_rss, new_rs):
            self._write_status(d, new_rs, old_rss, now, rollout=True)
            return
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old_rss)
        self._write_status(d, new_rs, old_rss, now, rollout=True)

    def _reconcile_new(
        self, d: dict[str, Any], all_rss: list[dict[str, Any]], new_rs: dict[str, Any]
    ) -> bool:
        want = replicas_of(d)
        if replicas_of(new_rs) == want:
            return self.scale_rs(d, new_rs, want)  # refreshes annotations only
        if replicas_of(new_rs) > want:
            return self.scale_rs(d, new_rs, want)
        return self.scale_rs(d, new_rs, self._new_rs_replicas(d, all_rss, new_rs))

    def _reconcile_old(
        self, d: dict[str, Any], old_rss: list[dict[str, Any]], new_rs: dict[str, Any]
    ) -> bool:
        active_old = [rs for rs in old_rss if replicas_of(rs) > 0]
        if not active_old:
            return False
        all_rss = old_rss + [new_rs]
        all_pods = sum(replicas_of(rs) for rs in all_rss)
        min_available = replicas_of(d) - max_unavailable(d)
        new_unavailable = replicas_of(new_rs) - _status_int(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        by_age = sorted(active_old, key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        # First the old ReplicaSets' unhealthy pods (cleanupUnhealthyReplicas) ...
        cleaned = 0
        for rs in by_age:
            if cleaned >= max_scaled_down:
                break
            unhealthy = replicas_of(rs) - _status_int(rs, "availableReplicas")
            if replicas_of(rs) == 0 or unhealthy <= 0:
                continue
            count = min(max_scaled_down - cleaned, unhealthy)
            self.scale_rs(d, rs, replicas_of(rs) - count)
            cleaned += count
        # ... then available old pods while minAvailable holds.
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rss)
        scaled = 0
        if available > min_available:
            total = available - min_available
            for rs in by_age:
                if scaled >= total:
                    break
                if replicas_of(rs) == 0:
                    continue
                count = min(replicas_of(rs), total - scaled)
                self.scale_rs(d, rs, replicas_of(rs) - count)
                scaled += count
        return cleaned + scaled > 0

    def _rollout_recreate(self, d: dict[str, Any], owned: list[dict[str, Any]], now: float) -> None:
        new_rs, old_rss = self._new_and_old(d, owned, now, create=False)
        scaled = False
        for rs in old_rss:
            if replicas_of(rs) > 0:
                scaled |= self.scale_rs(d, rs, 0)
        if scaled or any(_status_int(rs, "replicas") > 0 for rs in old_rss):
            self._write_status(d, new_rs, old_rss, now, rollout=True)
            return
        if new_rs is None:
            new_rs, old_rss = self._new_and_old(d, owned, now, create=True)
            assert new_rs is not None
        if replicas_of(new_rs) != replicas_of(d):
            self.scale_rs(d, new_rs, replicas_of(d))
        elif deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old_rss)
        self._write_status(d, new_rs, old_rss, now, rollout=True)

    # ---- history -------------------------------------------------------------------------
    def _cleanup(self, d: dict[str, Any], old_rss: list[dict[str, Any]]) -> None:
        limit = d["spec"].get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        alive = [rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")]
        diff = len(alive) - limit
        if diff <= 0:
            return
        for rs in sorted(alive, key=revision_of)[:diff]:
            if (
                _status_int(rs, "replicas") != 0
                or replicas_of(rs) != 0
                or rs["metadata"].get("generation", 1) > _status_int(rs, "observedGeneration")
            ):
                continue
            self.store.delete(
                "replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"]
            )
            old_rss.remove(rs)

    # ---- status --------------------------------------------------------------------------
    @staticmethod
    def _has_deadline(d: dict[str, Any]) -> bool:
        return d["spec"].get("progressDeadlineSeconds") is not None

    def _check_paused_conditions(self, d: dict[str, Any], now: float) -> None:
        if not self._has_deadline(d):
            return
        status = d.setdefault("status", {})
        cond = get_condition(status, "Progressing")
        if cond and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        paused_cond = bool(cond and cond.get("reason") == "DeploymentPaused")
        if d["spec"].get("paused") and not paused_cond:
            set_condition(
                status,
                _condition(
                    "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now
                ),
            )
        elif not d["spec"].get("paused") and paused_cond:
            set_condition(
                status,
                _condition(
                    "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now
                ),
            )

    def _write_status(
        self,
        d: dict[str, Any],
        new_rs: dict[str, Any] | None,
        old_rss: list[dict[str, Any]],
        now: float,
        rollout: bool,
    ) -> None:
        all_rss = old_rss + ([new_rs] if new_rs else [])
        spec_total = sum(replicas_of(rs) for rs in all_rss)
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rss)
        current = d.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(_status_int(rs, "replicas") for rs in all_rss),
            "updatedReplicas": _status_int(new_rs, "replicas") if new_rs else 0,
            "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rss),
            "availableReplicas": available,
            "unavailableReplicas": max(spec_total - available, 0),
            "conditions": copy.deepcopy(current.get("conditions") or []),
        }
        if current.get("collisionCount"):
            status["collisionCount"] = current["collisionCount"]
        if available >= replicas_of(d) - max_unavailable(d):
            set_condition(
                status,
                _condition(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    now,
                ),
            )
        else:
            set_condition(
                status,
                _condition(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    now,
                ),
            )
        if rollout and new_rs is not None:
            self._rollout_condition(d, status, new_rs, now)
        status = _strip_zero(status)
        if not status.get("conditions"):
            status.pop("conditions", None)
        if self._stored_status != status:
            d["status"] = status
            d["status"] = self.store.update_status("deployments.apps", d)["status"]
            self._stored_status = copy.deepcopy(d["status"])

    def _rollout_condition(
        self, d: dict[str, Any], status: dict[str, Any], new_rs: dict[str, Any], now: float
    ) -> None:
        """syncRolloutStatus: the Progressing condition."""
        current = get_condition(status, "Progressing")
        is_complete = (
            status["replicas"] == status["updatedReplicas"]
            and current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
        )
        if not self._has_deadline(d) or is_complete:
            return
        name = new_rs["metadata"]["name"]
        if deployment_complete(d, status):
            set_condition(
                status,
                _condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{name}" has successfully progressed.',
                    now,
                ),
            )
        elif _progressing(d, status):
            cond = _condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{name}" is progressing.',
                now,
            )
            if current is not None and current.get("status") == "True":
                cond["lastTransitionTime"] = current["lastTransitionTime"]
            status["conditions"] = [
                c for c in status["conditions"] if c.get("type") != "Progressing"
            ] + [cond]
        elif self._timed_out(d, current, now):
            set_condition(
                status,
                _condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{name}" has timed out progressing.',
                    now,
                ),
            )

    def _timed_out(self, d: dict[str, Any], cond: dict[str, Any] | None, now: float) -> bool:
        if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
            return False
        if cond.get("reason") == "ProgressDeadlineExceeded":
            return True
        since = parse_time(cond.get("lastUpdateTime")) or now
        return since + int(d["spec"]["progressDeadlineSeconds"]) < now
