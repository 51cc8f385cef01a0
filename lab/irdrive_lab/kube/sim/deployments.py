"""The Deployment controller, after kube-controller-manager's pkg/controller/deployment.

Per deployment and tick: find the new ReplicaSet (template equal to the deployment's, the
``pod-template-hash`` label aside) or create it with the next revision; scale ReplicaSets for
the RollingUpdate or Recreate strategy; delete old ReplicaSets beyond revisionHistoryLimit;
and write the status with the Available and Progressing conditions ``kubectl rollout status``
reads (computed in ``deployment_status``).
"""

from __future__ import annotations

import copy
from typing import Any

from irdrive_lab.kube.errors import AlreadyExists
from irdrive_lab.kube.sim.deployment_status import (
    compute_status,
    condition,
    deployment_complete,
    has_deadline,
    max_surge,
    max_unavailable,
    paused_conditions,
    replicas_of,
    set_condition,
    status_int,
)
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
    pod_template_hash,
    revision_of,
)

COMPONENT = "deployment-controller"


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
        paused_conditions(d, now)
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
            if get_condition(d.get("status") or {}, "Progressing") is None and has_deadline(d):
                status = d.setdefault("status", {})
                set_condition(
                    status,
                    condition(
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
        if has_deadline(d):
            status = d.setdefault("status", {})
            set_condition(
                status,
                condition(
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
        new_unavailable = replicas_of(new_rs) - status_int(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        by_age = sorted(active_old, key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        # First the old ReplicaSets' unhealthy pods (cleanupUnhealthyReplicas) ...
        cleaned = 0
        for rs in by_age:
            if cleaned >= max_scaled_down:
                break
            unhealthy = replicas_of(rs) - status_int(rs, "availableReplicas")
            if replicas_of(rs) == 0 or unhealthy <= 0:
                continue
            count = min(max_scaled_down - cleaned, unhealthy)
            self.scale_rs(d, rs, replicas_of(rs) - count)
            cleaned += count
        # ... then available old pods while minAvailable holds.
        available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
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
        if scaled or any(status_int(rs, "replicas") > 0 for rs in old_rss):
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
                status_int(rs, "replicas") != 0
                or replicas_of(rs) != 0
                or rs["metadata"].get("generation", 1) > status_int(rs, "observedGeneration")
            ):
                continue
            self.store.delete(
                "replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"]
            )
            old_rss.remove(rs)

    # ---- status --------------------------------------------------------------------------
    def _write_status(
        self,
        d: dict[str, Any],
        new_rs: dict[str, Any] | None,
        old_rss: list[dict[str, Any]],
        now: float,
        rollout: bool,
    ) -> None:
        """Store the computed status when it differs from the stored one."""
        status = compute_status(d, new_rs, old_rss, now, rollout)
        if self._stored_status != status:
            d["status"] = status
            d["status"] = self.store.update_status("deployments.apps", d)["status"]
            self._stored_status = copy.deepcopy(d["status"])
