"""The rulebooks against the playbooks and the lab's alerts.

A rulebook cannot read playbook metadata when it runs, so this keeps them in step: a runbook
whose playbook says ``irdrive_runbook.destructive: true`` only ever opens an approval; every
other runbook an alert names runs at once; every alert of the lab is covered, at the severity
its runbook's playbook declares; only firing alerts match; every rule is throttled per alert
name and target. Conditions are parsed by ansible-rulebook's own parser.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("ansible_rulebook")

from ansible_rulebook.json_generator import generate_dict_rulesets  # noqa: E402
from ansible_rulebook.rules_parser import parse_rule_sets  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / "rulebooks" / "alertmanager.yml"
AWX = REPO / "rulebooks" / "alertmanager-awx.yml"
APPROVAL_PLAYBOOK = "rulebooks/playbooks/request-approval.yml"
INCIDENT_PLAYBOOK = "rulebooks/playbooks/open-incident.yml"
LAB_RULES = REPO / "lab" / "irdrive_lab" / "monitoring" / "rules.yml"
THROTTLE = ["event.alert.labels.alertname", "event.target"]


def _runbook_meta(name: str) -> dict[str, Any]:
    plays = yaml.safe_load((REPO / "playbooks" / f"{name}.yml").read_text())
    meta: dict[str, Any] = plays[0]["vars"]["irdrive_runbook"]
    return meta


def _destructive(name: str) -> bool:
    return bool(_runbook_meta(name).get("destructive", False))


def _facts(node: Any, out: list[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    """(event field, operator, value) of every comparison in a parsed condition."""
    if isinstance(node, dict):
        for op, body in node.items():
            if isinstance(body, dict) and isinstance(body.get("lhs"), dict):
                lhs = body["lhs"]
                if "Event" in lhs:
                    rhs = body.get("rhs")
                    value = (
                        [v.get("String") for v in rhs]
                        if isinstance(rhs, list)
                        else (rhs or {}).get("String")
                    )
                    out.append((lhs["Event"], op, value))
                    continue
            if op == "IsNotDefinedExpression":
                out.append((body["Event"], op, None))
                continue
            _facts(body, out)
    elif isinstance(node, list):
        for item in node:
            _facts(item, out)
    return out


@functools.cache
def _rules(path: Path) -> list[dict[str, Any]]:
    """Each rule: its name, the parsed condition's facts, its throttle, its action (parsing
    conditions takes ansible-rulebook a second: once per rulebook)."""
    data = yaml.safe_load(path.read_text())
    parsed = generate_dict_rulesets(parse_rule_sets(data), {})
    (ruleset,) = parsed
    out = []
    for raw, rule in zip(data[0]["rules"], ruleset["RuleSet"]["rules"], strict=True):
        condition = rule["Rule"]["condition"]["AllCondition"]
        assert len(condition) == 1, raw["name"]
        top = condition[0]
        out.append(
            {
                "name": raw["name"],
                "top": top,
                "facts": _facts(top, []),
                "throttle": raw.get("throttle"),
                "action": raw["action"],
            }
        )
    return out


def _records_incident(rule: dict[str, Any]) -> bool:
    args = rule["action"].get("run_playbook") or {}
    return bool(args.get("name") == INCIDENT_PLAYBOOK)


def _runbook_rules(path: Path) -> list[dict[str, Any]]:
    """The rules that run a runbook (or open its approval): all but the incident rule."""
    return [rule for rule in _rules(path) if not _records_incident(rule)]


def _runbook_of(rule: dict[str, Any]) -> str | None:
    named = [v for f, op, v in rule["facts"] if f == "alert.labels.runbook" and op.startswith("Eq")]
    return named[0] if named else None


def _severity_of(rule: dict[str, Any]) -> str | None:
    named = [
        v for f, op, v in rule["facts"] if f == "alert.labels.severity" and op.startswith("Eq")
    ]
    return named[0] if named else None


def _local_target(rule: dict[str, Any]) -> tuple[str, str]:
    """('auto'|'approval', runbook) the local rule's action runs."""
    (kind, args), *_ = rule["action"].items()
    assert kind == "run_playbook", rule["name"]
    if args["name"] == APPROVAL_PLAYBOOK:
        return "approval", args["extra_vars"]["approval_runbook"]
    assert args["name"].startswith("playbooks/") and args["name"].endswith(".yml")
    assert "extra_vars" not in args  # the runbook gets the alert as ansible_eda.event only
    return "auto", args["name"][len("playbooks/") : -len(".yml")]


def _awx_target(rule: dict[str, Any]) -> tuple[str, str]:
    (kind, args), *_ = rule["action"].items()
    assert args["organization"] == "{{ irdrive_awx_organization | default('Default') }}"
    name = args["name"]
    assert name.startswith("irdrive "), rule["name"]
    if kind == "run_workflow_template":
        assert name.endswith(" (approval)"), rule["name"]
        return "approval", name[len("irdrive ") : -len(" (approval)")]
    assert kind == "run_job_template", rule["name"]
    return "auto", name[len("irdrive ") :]


@pytest.mark.parametrize(("path", "target"), [(LOCAL, _local_target), (AWX, _awx_target)])
def test_destructive_runbooks_only_open_approvals(path: Path, target: Any) -> None:
    seen = set()
    for rule in _runbook_rules(path):
        kind, runbook = target(rule)
        seen.add(runbook)
        assert kind == ("approval" if _destructive(runbook) else "auto"), (
            f"{path.name}: rule {rule['name']!r} must "
            f"{'open an approval for' if _destructive(runbook) else 'run'} {runbook}: its "
            f"playbook says destructive: {_destructive(runbook)}"
        )
        labelled = _runbook_of(rule)
        if labelled is not None:
            assert labelled == runbook, rule["name"]
            assert _severity_of(rule) == _runbook_meta(runbook)["severity"], rule["name"]
        else:
            assert runbook == "diagnose" and _runbook_meta(runbook).get("read_only") is True
    assert {"security-breach", "payments-failover", "diagnose"} <= seen
    assert _destructive("security-breach") and _destructive("rotate-secrets")
    assert not any(
        _destructive(n)
        for n in ("payments-failover", "streaming-outage", "performance-degradation", "diagnose")
    )


@pytest.mark.parametrize("path", [LOCAL, AWX])
def test_every_lab_alert_is_covered_and_the_fallback_excludes_exactly_those(path: Path) -> None:
    rules = _runbook_rules(path)
    covered = {(_runbook_of(r), _severity_of(r)) for r in rules if _runbook_of(r)}
    lab = yaml.safe_load(LAB_RULES.read_text())
    alerts = {
        (r["labels"]["runbook"], r["labels"]["severity"])
        for group in lab["groups"]
        for r in group["rules"]
    }
    assert alerts <= covered
    (fallback,) = [r for r in rules if _runbook_of(r) is None]
    (excluded,) = [v for f, op, v in fallback["facts"] if op == "ItemNotInListExpression"]
    assert sorted(excluded) == sorted({runbook for runbook, _ in covered})
    assert ("alert.labels.runbook", "IsNotDefinedExpression", None) in fallback["facts"]


@pytest.mark.parametrize("path", [LOCAL, AWX])
def test_only_firing_alerts_match_and_every_runbook_rule_is_throttled(path: Path) -> None:
    for rule in _runbook_rules(path):
        # status == "firing" is one side of the condition's top-level "and": nothing else can
        # make a resolved alert match.
        top = rule["top"]["AndExpression"]
        status = top["lhs"]
        while "AndExpression" in status:
            status = status["AndExpression"]["lhs"]
        assert status == {
            "EqualsExpression": {"lhs": {"Event": "alert.status"}, "rhs": {"String": "firing"}}
        }, rule["name"]
        assert rule["throttle"] == {"once_within": "10 minutes", "group_by_attributes": THROTTLE}


def test_both_rulebooks_match_the_same_alerts() -> None:
    local, awx = _runbook_rules(LOCAL), _runbook_rules(AWX)
    assert [r["top"] for r in local] == [r["top"] for r in awx]
    assert [_local_target(r) for r in local] == [_awx_target(r) for r in awx]
    sources = [yaml.safe_load(p.read_text())[0]["sources"] for p in (LOCAL, AWX)]
    for (source,) in sources:
        assert source["irdrive.ops.alertmanager"]["meta_hosts"] is False


def test_the_security_breach_rules_pass_what_the_alert_names() -> None:
    """The AWX rule's extra vars answer the approval workflow's survey (AWX's launch rules), and
    the local rule's request carries the same parameters: the addresses come from the alert's
    ``addresses`` annotation, one a line. Rendered by ansible-rulebook's own substitution."""
    from ansible_rulebook.util import substitute_variables
    from awx_rules import answer_errors

    from irdrive.awx.export import APPROVAL_WORKFLOW, Settings, export
    from irdrive.catalog import Catalog
    from irdrive.paths import Project

    event = {
        "alert": {
            "status": "firing",
            "fingerprint": "3f2a9c",
            "labels": {"alertname": "IntrusionSuspiciousSources", "severity": "P0"},
            "annotations": {"summary": "bursts", "addresses": "198.51.100.7\n2001:db8::6"},
        }
    }
    (awx_rule,) = [r for r in _rules(AWX) if _runbook_of(r) == "security-breach"]
    action = awx_rule["action"]["run_workflow_template"]
    assert action["name"] == APPROVAL_WORKFLOW
    given = substitute_variables(action["job_args"]["extra_vars"], {"event": event})
    assert given == {
        "security_breach_incident_id": "alert-3f2a9c",
        "security_breach_ips": "198.51.100.7\n2001:db8::6",
        "security_breach_reason": "IntrusionSuspiciousSources: bursts",
    }
    (flow,) = export(Catalog(Project(REPO)), "json", Settings())["workflow_job_templates"]
    questions = flow["survey_spec"]["spec"]
    assert {q["variable"] for q in questions} == set(given)
    for item in questions:
        assert answer_errors(item, given) == [], item
    # No annotation: the survey refuses the launch rather than contain nothing.
    del event["alert"]["annotations"]["addresses"]
    bare = substitute_variables(action["job_args"]["extra_vars"], {"event": event})
    (ips,) = [q for q in questions if q["variable"] == "security_breach_ips"]
    assert answer_errors(ips, bare) != []

    (local_rule,) = [r for r in _rules(LOCAL) if _runbook_of(r) == "security-breach"]
    local = local_rule["action"]["run_playbook"]["extra_vars"]["approval_extra_vars"]
    assert local == action["job_args"]["extra_vars"]


def test_the_local_rulebook_records_every_alert_with_a_severity_in_an_incident() -> None:
    """One rule, beside the runbook rules (match_multiple_rules), for firing and resolved
    alerts alike and never throttled: each repeat counts on its incident. The AWX variant has
    none (its actions cannot reach the driver); its header says so."""
    data = yaml.safe_load(LOCAL.read_text())[0]
    assert data["match_multiple_rules"] is True
    (rule,) = [r for r in _rules(LOCAL) if _records_incident(r)]
    assert rule["top"] == {"IsDefinedExpression": {"Event": "alert.labels.severity"}}
    assert rule["throttle"] is None
    assert rule["action"] == {"run_playbook": {"name": INCIDENT_PLAYBOOK}}
    assert not any(_records_incident(r) for r in _rules(AWX))
    assert "opens no incident" in AWX.read_text()
    # The playbook pipes the event to the driver and needs nothing else from the rule.
    (play,) = yaml.safe_load((REPO / INCIDENT_PLAYBOOK).read_text())
    (intake, _) = play["tasks"]
    assert intake["ansible.builtin.command"]["argv"][1:] == [
        "incident",
        "open",
        "--from-alert",
        "-",
        "--json",
    ]
    assert intake["ansible.builtin.command"]["stdin"] == "{{ ansible_eda.event | to_json }}"
