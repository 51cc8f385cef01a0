# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Deny entries in a network ACL, one per blocked network, inside a reserved rule range.

A network ACL is evaluated from the lowest rule number up and the first match wins, so a deny
entry only blocks traffic when its number is below every allow entry that matches the same
traffic. irdrive keeps its deny entries in one reserved range (by default 1-99, below the
customary allow rules at 100, 110, ...), takes the lowest free numbers, never touches an entry
outside the range, and never adds a second entry for a network that already has one.

Entries are created one call at a time (EC2 has no batch call); a number taken by another
writer in the meantime (NetworkAclEntryAlreadyExists) makes the whole plan run again from a
fresh read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils import aws_clients
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    TransientError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import (
    Network,
    as_network,
    sort_key,
)
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry

#: EC2 protocol numbers by name; -1 is every protocol.
PROTOCOLS = {"all": "-1", "-1": "-1", "tcp": "6", "6": "6", "udp": "17", "17": "17"}


@dataclass(frozen=True)
class EntrySpec:
    """The kind of deny entry to keep: protocol, ports, direction and the reserved range."""

    protocol: str = "-1"
    port_from: int | None = None
    port_to: int | None = None
    egress: bool = False
    rule_min: int = 1
    rule_max: int = 99

    def matches(self, entry: dict[str, Any]) -> bool:
        """``entry`` is a deny entry of this kind inside the range (whatever its network)."""
        if not self.owns(entry):
            return False
        if str(entry.get("Protocol")) != self.protocol:
            return False
        if self.protocol in ("6", "17"):
            ports = entry.get("PortRange") or {}
            return (ports.get("From"), ports.get("To")) == (self.port_from, self.port_to)
        return True

    def owns(self, entry: dict[str, Any]) -> bool:
        """``entry`` is a deny entry in our direction and reserved range."""
        return (
            bool(entry.get("Egress")) == self.egress
            and entry.get("RuleAction") == "deny"
            and self.rule_min <= int(entry.get("RuleNumber", 0)) <= self.rule_max
        )


def validate_spec(spec: EntrySpec) -> None:
    if not 1 <= spec.rule_min <= spec.rule_max <= 32766:
        raise InvalidInputError(
            f"rule range {spec.rule_min}-{spec.rule_max} is not within 1-32766 (low first)"
        )
    if spec.protocol in ("6", "17") and (spec.port_from is None or spec.port_to is None):
        raise InvalidInputError("a tcp or udp deny entry needs a port range")


def entry_network(entry: dict[str, Any]) -> Network | None:
    return as_network(entry.get("CidrBlock") or entry.get("Ipv6CidrBlock") or "")


def summarize(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the module returns it (and as an undo would need it)."""
    out: dict[str, Any] = {
        "rule_number": int(entry["RuleNumber"]),
        "cidr": entry.get("CidrBlock") or entry.get("Ipv6CidrBlock") or "",
        "protocol": str(entry.get("Protocol")),
        "rule_action": entry.get("RuleAction"),
        "egress": bool(entry.get("Egress")),
    }
    if entry.get("PortRange"):
        out["port_range"] = {
            "from": entry["PortRange"].get("From"),
            "to": entry["PortRange"].get("To"),
        }
    return out


@dataclass
class NaclPlan:
    before: list[dict[str, Any]]
    create: list[tuple[int, Network]] = field(default_factory=list)
    delete: list[dict[str, Any]] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The entries found by the first read, when a retried cycle started from a later one.
    prior: list[dict[str, Any]] | None = None
    #: The entries in the range read back after the writes (planned ones in check mode).
    current: list[dict[str, Any]] = field(default_factory=list)
    mismatch: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.create or self.delete)

    def after(self, spec: EntrySpec) -> list[dict[str, Any]]:
        gone = {e["rule_number"] for e in self.delete}
        kept = [e for e in self.before if e["rule_number"] not in gone]
        new = [
            {
                "rule_number": number,
                "cidr": str(network),
                "protocol": spec.protocol,
                "rule_action": "deny",
                "egress": spec.egress,
            }
            for number, network in self.create
        ]
        return sorted(kept + new, key=lambda e: e["rule_number"])


def plan_entries(
    entries: list[dict[str, Any]], networks: list[Network], state: str, spec: EntrySpec
) -> NaclPlan:
    """What to create or delete so that each network has (or has no) deny entry of ``spec``."""
    ours = sorted((e for e in entries if spec.owns(e)), key=lambda e: int(e["RuleNumber"]))
    plan = NaclPlan(before=[summarize(e) for e in ours])
    if state == "present":
        have = {entry_network(e) for e in ours if spec.matches(e)}
        used = {int(e["RuleNumber"]) for e in entries if bool(e.get("Egress")) == spec.egress}
        free = (n for n in range(spec.rule_min, spec.rule_max + 1) if n not in used)
        wanted = [n for n in networks if n not in have]
        plan.already = [str(n) for n in networks if n in have]
        for network in wanted:
            number = next(free, None)
            if number is None:
                raise InvalidStateError(
                    f"no free rule number left in {spec.rule_min}-{spec.rule_max} for "
                    f"{len(wanted)} new deny entries ({', '.join(map(str, wanted))}); "
                    "nothing was changed"
                )
            plan.create.append((number, network))
        if plan.create:
            lowest = min(number for number, _ in plan.create)
            allows = [
                int(e["RuleNumber"])
                for e in entries
                if bool(e.get("Egress")) == spec.egress
                and e.get("RuleAction") == "allow"
                and int(e["RuleNumber"]) < lowest
            ]
            if allows:
                plan.warnings.append(
                    f"allow entries {sorted(allows)} come before the deny entries "
                    f"(rule {lowest} and up): traffic they allow is not blocked"
                )
    else:
        targets = set(networks)
        plan.delete = [summarize(e) for e in ours if entry_network(e) in targets]
        found = {entry_network(e) for e in ours}
        plan.already = [str(n) for n in networks if n not in found]
    return plan


def query(
    entries: list[dict[str, Any]], networks: list[Network], spec: EntrySpec
) -> dict[str, Any]:
    """The deny entries in the range, and which of ``networks`` have one of ``spec``."""
    ours = sorted((e for e in entries if spec.owns(e)), key=lambda e: int(e["RuleNumber"]))
    have = {entry_network(e) for e in ours if spec.matches(e)}
    return {
        "entries": [summarize(e) for e in ours],
        "present": [str(n) for n in networks if n in have],
        "missing": [str(n) for n in networks if n not in have],
    }


class NaclClient:
    def __init__(self, client: Any, nacl_id: str) -> None:
        self.client = client
        self.nacl_id = nacl_id

    def entries(self) -> list[dict[str, Any]]:
        answer = aws_clients.call(
            f"reading network ACL {self.nacl_id}",
            self.client.describe_network_acls,
            NetworkAclIds=[self.nacl_id],
        )
        acls = answer.get("NetworkAcls") or []
        if not acls:
            raise NotFoundError(f"network ACL {self.nacl_id} does not exist")
        return list(acls[0].get("Entries") or [])

    def create(self, number: int, network: Network, spec: EntrySpec) -> None:
        kwargs: dict[str, Any] = {
            "NetworkAclId": self.nacl_id,
            "RuleNumber": number,
            "Protocol": spec.protocol,
            "RuleAction": "deny",
            "Egress": spec.egress,
        }
        kwargs["CidrBlock" if network.version == 4 else "Ipv6CidrBlock"] = str(network)
        if spec.protocol in ("6", "17"):
            kwargs["PortRange"] = {"From": spec.port_from, "To": spec.port_to}
        aws_clients.call(
            f"adding deny entry {number} for {network} to {self.nacl_id}",
            self.client.create_network_acl_entry,
            **kwargs,
        )

    def delete(self, number: int, egress: bool) -> None:
        aws_clients.call(
            f"removing entry {number} from {self.nacl_id}",
            self.client.delete_network_acl_entry,
            NetworkAclId=self.nacl_id,
            RuleNumber=number,
            Egress=egress,
        )


def converge(
    nacl: NaclClient,
    networks: list[Network],
    state: str,
    spec: EntrySpec,
    check_mode: bool = False,
    attempts: int = 5,
    deadline: float = 60.0,
    **retry_options: Any,
) -> NaclPlan:
    """Read the ACL, plan, apply; a lost race on a rule number re-reads and re-plans."""
    validate_spec(spec)
    ordered = sorted(set(networks), key=sort_key)
    done: list[NaclPlan] = []

    def cycle() -> NaclPlan:
        plan = plan_entries(nacl.entries(), ordered, state, spec)
        done.append(plan)
        if not check_mode:
            for number, network in plan.create:
                nacl.create(number, network, spec)
            for entry in plan.delete:
                nacl.delete(entry["rule_number"], entry["egress"])
        return plan

    plan = retry(
        cycle,
        transient=(ConflictError, TransientError),
        attempts=attempts,
        deadline=deadline,
        **retry_options,
    )
    plan.prior = done[0].before if done else plan.before
    if plan.changed and not check_mode:
        plan.current = [summarize(e) for e in nacl.entries() if spec.owns(e)]
    else:
        plan.current = plan.after(spec)
    plan.mismatch = mismatch(plan.current, ordered, state, spec)
    return plan


def mismatch(
    entries: list[dict[str, Any]], networks: list[Network], state: str, spec: EntrySpec
) -> list[str]:
    """Networks without a matching deny entry (``present``) or still with one (``absent``)."""
    if state == "present":
        have = {
            as_network(e["cidr"])
            for e in entries
            if e["protocol"] == spec.protocol
            and (
                spec.protocol not in ("6", "17")
                or (e.get("port_range") or {}) == {"from": spec.port_from, "to": spec.port_to}
            )
        }
        return [str(n) for n in networks if n not in have]
    held = {as_network(e["cidr"]) for e in entries}
    return [str(n) for n in networks if n in held]
