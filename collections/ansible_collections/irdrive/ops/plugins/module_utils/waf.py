# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A WAFv2 IP set, changed address by address without losing anyone else's change.

WAFv2 has no "add these addresses" call: UpdateIPSet replaces the whole list and takes the
LockToken of the GetIPSet it is based on.  ``converge`` therefore reads the set (GET), merges the
wanted change into what it found, and writes the merged list with that LockToken (PUT).  When
another writer changed the set in between, WAF answers WAFOptimisticLockException: the whole
cycle runs again from a fresh read (``retry.py``: bounded attempts, full-jitter delays, a
deadline), so the other writer's addresses are kept and ours are added on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils import aws_clients
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TransientError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import (
    Network,
    as_network,
    sort_key,
)
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry

VERSIONS = {"IPV4": 4, "IPV6": 6}


@dataclass(frozen=True)
class IpSetRef:
    name: str
    scope: str
    id: str = ""


@dataclass
class WafPlan:
    """What one GET-merge-PUT cycle found and wants."""

    before: list[str]
    after: list[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


@dataclass
class WafResult:
    plan: WafPlan
    ref: IpSetRef
    version: str
    arn: str
    attempts: int
    conflicts: int
    #: The addresses read back after the write (the plan's, when nothing was written).
    current: list[str] = field(default_factory=list)
    #: Given networks whose state in ``current`` is not the wanted one (empty: verified).
    mismatch: list[str] = field(default_factory=list)


def mismatch(current: list[str], networks: list[Network], state: str) -> list[str]:
    """Networks not present (``state='present'``) or still present (``'absent'``) in ``current``."""
    held = {as_network(text) for text in current}
    want = state == "present"
    return [str(n) for n in networks if (n in held) != want]


def plan_addresses(existing: list[str], networks: list[Network], state: str) -> WafPlan:
    """Merge ``networks`` into the set's ``existing`` addresses (kept as WAF spelled them).

    An existing entry counts as one of ours when it parses to the same network, so
    ``2001:DB8::1/128`` and ``2001:db8::1/128`` are the same address.
    """
    parsed = {text: as_network(text) for text in existing}
    present = {net: text for text, net in parsed.items() if net is not None}
    plan = WafPlan(before=list(existing), after=list(existing))
    for network in networks:
        if state == "present":
            if network in present:
                plan.already.append(str(network))
            else:
                plan.added.append(str(network))
        elif network in present:
            plan.removed.append(present[network])
        else:
            plan.already.append(str(network))  # already absent
    if state == "present":
        plan.after = existing + plan.added
    else:
        plan.after = [text for text in existing if text not in set(plan.removed)]

    def key(text: str) -> tuple[Any, ...]:
        net = as_network(text)
        return (0, *sort_key(net)) if net is not None else (1, text)

    plan.after = sorted(plan.after, key=key)
    return plan


class WafIpSetClient:
    """GetIPSet/UpdateIPSet on one IP set, errors mapped by ``aws_clients``."""

    def __init__(self, client: Any, ref: IpSetRef) -> None:
        self.client = client
        self.ref = ref

    def resolve(self) -> IpSetRef:
        """The reference with its Id, looked up by name when it was not given."""
        if self.ref.id:
            return self.ref
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Scope": self.ref.scope, "Limit": 100}
            if marker:
                kwargs["NextMarker"] = marker
            page = aws_clients.call("listing WAF IP sets", self.client.list_ip_sets, **kwargs)
            for summary in page.get("IPSets") or []:
                if summary.get("Name") == self.ref.name:
                    self.ref = IpSetRef(self.ref.name, self.ref.scope, summary["Id"])
                    return self.ref
            marker = page.get("NextMarker")
            if not marker or not page.get("IPSets"):
                raise NotFoundError(
                    f"WAF IP set {self.ref.name!r} ({self.ref.scope}) does not exist"
                )

    def get(self) -> tuple[dict[str, Any], str]:
        ref = self.resolve()
        answer = aws_clients.call(
            f"reading WAF IP set {ref.name}",
            self.client.get_ip_set,
            Name=ref.name,
            Scope=ref.scope,
            Id=ref.id,
        )
        return answer["IPSet"], answer["LockToken"]

    def put(self, ip_set: dict[str, Any], addresses: list[str], lock_token: str) -> None:
        kwargs: dict[str, Any] = {
            "Name": self.ref.name,
            "Scope": self.ref.scope,
            "Id": self.ref.id,
            "Addresses": addresses,
            "LockToken": lock_token,
        }
        # UpdateIPSet replaces every mutable setting: pass the description on, or it is lost.
        if ip_set.get("Description"):
            kwargs["Description"] = ip_set["Description"]
        aws_clients.call(
            f"updating WAF IP set {self.ref.name}", self.client.update_ip_set, **kwargs
        )


def converge(
    ip_sets: WafIpSetClient,
    networks: list[Network],
    state: str,
    check_mode: bool = False,
    attempts: int = 6,
    deadline: float = 60.0,
    **retry_options: Any,
) -> WafResult:
    """Make ``networks`` present in (or absent from) the IP set; GET, merge, PUT, retried."""
    counters = {"attempts": 0, "conflicts": 0}
    found: dict[str, Any] = {}

    def cycle() -> WafPlan:
        counters["attempts"] += 1
        ip_set, lock_token = ip_sets.get()
        version = str(ip_set.get("IPAddressVersion") or "IPV4")
        found.update(version=version, arn=str(ip_set.get("ARN") or ""))
        wrong = [str(n) for n in networks if n.version != VERSIONS.get(version, 4)]
        if wrong and state == "present":
            raise InvalidInputError(
                f"WAF IP set {ip_sets.ref.name} holds {version} addresses; it cannot hold "
                f"{', '.join(wrong)} (use an IP set of the other version)",
                invalid=wrong,
            )
        plan = plan_addresses(list(ip_set.get("Addresses") or []), networks, state)
        if plan.changed and not check_mode:
            ip_sets.put(ip_set, plan.after, lock_token)
        return plan

    def on_retry(attempt: int, error: BaseException, delay: float) -> None:
        if isinstance(error, ConflictError):
            counters["conflicts"] += 1

    plan = retry(
        cycle,
        transient=(ConflictError, TransientError),
        attempts=attempts,
        deadline=deadline,
        on_retry=on_retry,
        **retry_options,
    )
    current = plan.after
    if plan.changed and not check_mode:
        ip_set, _token = ip_sets.get()  # read back what WAF now holds
        current = list(ip_set.get("Addresses") or [])
    return WafResult(
        plan=plan,
        ref=ip_sets.ref,
        version=found.get("version", ""),
        arn=found.get("arn", ""),
        attempts=counters["attempts"],
        conflicts=counters["conflicts"],
        current=current,
        mismatch=mismatch(current, networks, state),
    )


def read(ip_sets: WafIpSetClient) -> dict[str, Any]:
    """The set as it is: name, id, version and addresses (for query and verification)."""
    ip_set, _token = ip_sets.get()
    return {
        "name": ip_sets.ref.name,
        "id": ip_sets.ref.id,
        "scope": ip_sets.ref.scope,
        "version": ip_set.get("IPAddressVersion", ""),
        "addresses": list(ip_set.get("Addresses") or []),
    }
