# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Secrets Manager rotation, step by step, the way a rotation Lambda does it.

The four steps of AWS's rotation protocol, keyed by a rotation id:

* createSecret: PutSecretValue of the new value with the stage AWSPENDING and a
  ClientRequestToken (the version id) derived from the rotation id;
* setSecret: make the service use the pending value (``Backend.set``);
* testSecret: prove the pending value works (``Backend.test``);
* finishSecret: UpdateSecretVersionStage moves AWSCURRENT to the pending version (Secrets
  Manager moves AWSPREVIOUS to the old one), then AWSPENDING is removed.

A re-run with the same rotation id finds its version: AWSCURRENT means done (nothing is written),
a pending one means an interrupted rotation, which is finished with the value already staged.
AWSPENDING left on a version of another rotation is removed before a new value is staged.
Secret values never leave this module_util except to the backend.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import call
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    InvalidStateError,
    IrdriveOpsError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.scram import generate_password

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
STEPS = ("create", "set", "test", "finish")
#: Namespace of the version ids derived from rotation ids (uuid5).
TOKEN_NAMESPACE = uuid.UUID("5b0f7c1e-2d43-4a8e-9d51-6f1a3c0e8b27")


def rotation_token(secret_name: str, rotation_id: str) -> str:
    """The ClientRequestToken (and so the version id) of ``rotation_id`` for a secret."""
    if not rotation_id or not rotation_id.strip():
        raise InvalidInputError("rotation_id must not be empty")
    return str(uuid.uuid5(TOKEN_NAMESPACE, f"{secret_name}\n{rotation_id}"))


class Backend(Protocol):
    """The service that uses the secret: setSecret and testSecret act on it."""

    def check(self, pending: str | None, current: str | None, previous: str | None) -> None:
        """Read-only, for check mode: raise if setSecret could not work."""

    def set(self, pending: str, current: str | None, previous: str | None) -> bool:
        """Make the service accept ``pending``; True when something was changed."""

    def test(self, pending: str) -> None:
        """Raise unless ``pending`` works."""

    def undo(self) -> str | None:
        """After a failed test, put back what ``set`` replaced; say what it did (None: nothing)."""


class NoBackend:
    """For secrets no service has to be told about (API keys issued elsewhere, tokens)."""

    def check(self, pending: str | None, current: str | None, previous: str | None) -> None:
        return None

    def set(self, pending: str, current: str | None, previous: str | None) -> bool:
        return False

    def test(self, pending: str) -> None:
        return None

    def undo(self) -> str | None:
        return None


@dataclass
class RotationState:
    """What DescribeSecret says about a secret, seen from one rotation id."""

    name: str
    arn: str
    token: str
    stages: dict[str, list[str]]

    def version_with(self, stage: str) -> str | None:
        for version, stages in self.stages.items():
            if stage in stages:
                return version
        return None

    @property
    def status(self) -> str:
        """``done``, ``resume`` (our version exists but is not current) or ``new``."""
        if CURRENT in self.stages.get(self.token, []):
            return "done"
        if self.token in self.stages:
            return "resume"
        return "new"

    @property
    def stale_pending(self) -> str | None:
        """A version of another rotation still labelled AWSPENDING."""
        pending = self.version_with(PENDING)
        return pending if pending and pending != self.token else None

    def summary(self) -> dict[str, Any]:
        return {
            "current_version": self.version_with(CURRENT),
            "pending_version": self.version_with(PENDING),
            "previous_version": self.version_with(PREVIOUS),
            "stages": {v: sorted(s) for v, s in sorted(self.stages.items()) if s},
        }


@dataclass
class ValueSpec:
    """How the new value is made: given, or generated (whole or as one key of a JSON secret)."""

    value: str | None = None
    length: int = 40
    json_key: str | None = None
    # Alternating users: the new value names the role the current one does not (key username).
    alternate_users: tuple[str, str] | None = None

    def new_value(self, current: str | None) -> str:
        if self.value is not None:
            return self.value
        password = generate_password(self.length)
        if not self.json_key:
            return password
        try:
            document = json.loads(current) if current else {}
        except ValueError:
            raise InvalidStateError(
                f"the current value is not JSON, so key {self.json_key!r} cannot be rotated"
            ) from None
        if not isinstance(document, dict):
            raise InvalidStateError("the current value is JSON but not an object")
        document[self.json_key] = password
        if self.alternate_users:
            document["username"] = alternate_user(self.alternate_users, document.get("username"))
        return json.dumps(document)


def alternate_user(users: tuple[str, str], live: Any) -> str:
    """The role to rotate next when ``live`` is the one in use (the first when neither is)."""
    return users[1] if live == users[0] else users[0]


@dataclass
class RotationResult:
    changed: bool = False
    status: str = "new"
    steps: list[str] = field(default_factory=list)
    stale_pending_removed: str | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    version_id: str = ""
    name: str = ""
    arn: str = ""


class SecretRotator:
    """Runs the rotation steps on one secret with a boto3 Secrets Manager client."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self.client = client
        self.secret_id = secret_id

    def describe(self, rotation_id: str) -> RotationState:
        described = call(
            f"describe secret {self.secret_id}",
            self.client.describe_secret,
            SecretId=self.secret_id,
        )
        name = described["Name"]
        return RotationState(
            name=name,
            arn=described.get("ARN", ""),
            token=rotation_token(name, rotation_id),
            stages={k: list(v) for k, v in (described.get("VersionIdsToStages") or {}).items()},
        )

    def value(self, **selector: str) -> str | None:
        what = f"read secret {self.secret_id} ({', '.join(selector.values())})"
        response = call(what, self.client.get_secret_value, SecretId=self.secret_id, **selector)
        return response.get("SecretString")

    def _stage_value(self, state: RotationState, stage: str) -> str | None:
        version = state.version_with(stage)
        return self.value(VersionId=version) if version else None

    def rotate(
        self,
        rotation_id: str,
        spec: ValueSpec,
        backend: Backend,
        until: str = "finish",
        check_mode: bool = False,
    ) -> RotationResult:
        """Run the steps up to and including ``until``; return what was (or would be) done."""
        if until not in STEPS:
            raise InvalidInputError(f"unknown rotation step {until!r}; steps: {', '.join(STEPS)}")
        state = self.describe(rotation_id)
        result = RotationResult(
            status=state.status,
            before=state.summary(),
            version_id=state.token,
            name=state.name,
            arn=state.arn,
        )
        if state.status == "done":
            result.after = result.before
            if state.version_with(PENDING) == state.token and not check_mode:
                self._remove_pending(state.token)  # a finish interrupted after its first call
                result.changed, result.steps = True, ["finish"]
                result.after = self.describe(rotation_id).summary()
            return result
        wanted = STEPS[: STEPS.index(until) + 1]
        current = self._stage_value(state, CURRENT)
        previous = self._stage_value(state, PREVIOUS)
        result.changed = True
        if check_mode:
            result.steps = list(wanted)
            result.stale_pending_removed = state.stale_pending
            pending = self.value(VersionId=state.token) if state.status == "resume" else None
            backend.check(pending, current, previous)
            result.after = _predicted(state, until)
            return result
        if state.status == "new":
            if state.stale_pending:
                call(
                    f"remove the stale AWSPENDING stage of secret {state.name}",
                    self.client.update_secret_version_stage,
                    SecretId=self.secret_id,
                    VersionStage=PENDING,
                    RemoveFromVersionId=state.stale_pending,
                )
                result.stale_pending_removed = state.stale_pending
            pending = spec.new_value(current)
            call(
                f"stage a new value for secret {state.name}",
                self.client.put_secret_value,
                SecretId=self.secret_id,
                ClientRequestToken=state.token,
                SecretString=pending,
                VersionStages=[PENDING],
            )
        else:
            pending = self.value(VersionId=state.token)
            if pending is None:
                raise InvalidStateError(
                    f"version {state.token} of secret {state.name} has no value"
                )
            if state.version_with(PENDING) != state.token:
                call(
                    f"label version {state.token} of secret {state.name} AWSPENDING again",
                    self.client.update_secret_version_stage,
                    SecretId=self.secret_id,
                    VersionStage=PENDING,
                    MoveToVersionId=state.token,
                    **({"RemoveFromVersionId": state.stale_pending} if state.stale_pending else {}),
                )
                result.stale_pending_removed = state.stale_pending
        result.steps.append("create")
        if "set" in wanted:
            backend.set(pending, current, previous)
            result.steps.append("set")
        if "test" in wanted:
            try:
                backend.test(pending)
            except IrdriveOpsError as error:
                restored = backend.undo()
                raise IrdriveOpsError(
                    f"testSecret failed for secret {state.name}: {error}; "
                    + (f"{restored}, " if restored else "nothing was set back, ")
                    + f"AWSCURRENT is unchanged and version {state.token} stays AWSPENDING "
                    "for a re-run with the same rotation id",
                    steps=result.steps,
                    version_id=state.token,
                ) from error
            result.steps.append("test")
        if "finish" in wanted:
            old = state.version_with(CURRENT)
            kwargs = {"RemoveFromVersionId": old} if old else {}
            call(
                f"make version {state.token} of secret {state.name} AWSCURRENT",
                self.client.update_secret_version_stage,
                SecretId=self.secret_id,
                VersionStage=CURRENT,
                MoveToVersionId=state.token,
                **kwargs,
            )
            self._remove_pending(state.token)
            result.steps.append("finish")
        result.after = self.describe(rotation_id).summary()
        return result

    def _remove_pending(self, version: str) -> None:
        call(
            f"remove AWSPENDING from version {version} of secret {self.secret_id}",
            self.client.update_secret_version_stage,
            SecretId=self.secret_id,
            VersionStage=PENDING,
            RemoveFromVersionId=version,
        )


def _predicted(state: RotationState, until: str) -> dict[str, Any]:
    stages = {v: [s for s in stages if s != PENDING] for v, stages in state.stages.items()}
    stages[state.token] = [PENDING]
    if until == "finish":
        old = state.version_with(CURRENT)
        for version in stages:
            stages[version] = [s for s in stages[version] if s != PREVIOUS]
        if old:
            stages[old] = [PREVIOUS]
        stages[state.token] = [CURRENT]
    predicted = RotationState(state.name, state.arn, state.token, stages)
    return predicted.summary()
