"""The security-breach approval workflow: containment at once, an approval, then rotation.

What each node's job receives is worked out with AWX's own rules for workflow nodes
(tests/awx_rules.py node_job_extra_vars: the workflow's extra vars and survey answers reach every
job node whatever its ``ask_variables_on_launch``; set_stats artifacts pass on through the
approval node; a node's own extra_data passes only the template's prompts), then checked against
each role's ``meta/argument_specs.yml`` with Ansible's validator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from awx_rules import answer_errors, node_job_extra_vars, spec_errors
from jinja2.nativetypes import NativeEnvironment

from irdrive.awx.export import APPROVAL_WORKFLOW, WORKFLOW_SURVEY, Settings, export
from irdrive.awx.survey import CONFIRM_VARIABLE
from irdrive.catalog import Catalog, Runbook
from irdrive.paths import Project
from irdrive.yamlcache import YamlCache

REPO = Path(__file__).resolve().parents[3]
ROLE_TASKS = REPO / "roles" / "security_breach" / "tasks" / "main.yml"
# The answers an alert gives (rulebooks/alertmanager-awx.yml; tests/unit/test_rulebooks.py
# renders the rule itself against this survey).
ANSWERS = {
    "security_breach_incident_id": "alert-3f2a9c",
    "security_breach_ips": "198.51.100.7\n2001:db8::6",
    "security_breach_reason": "IntrusionSuspiciousSources: failed logins in bursts",
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    cache = YamlCache(tmp_path_factory.mktemp("cache") / "yaml.json")
    return Catalog(Project(REPO), cache=cache)


@pytest.fixture(scope="module")
def exported(catalog: Catalog) -> dict[str, Any]:
    return export(catalog, "json", Settings())


def _lines(value: Any) -> list[str]:
    """What irdrive.ops.lines makes of a textarea's answer."""
    return [v.strip() for v in str(value).replace(",", "\n").splitlines() if v.strip()]


def _valid(runbook: Runbook, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (the runbook's own parameters among them) by the role's argument spec."""
    spec = {name: dict(p.spec) for name, p in runbook.parameters.items()}
    own = {k: v for k, v in values.items() if k in spec}
    result = ArgumentSpecValidator(spec).validate(own)
    assert result.error_messages == [], result.error_messages
    return dict(result.validated_parameters)


def _artifacts(values: dict[str, Any]) -> dict[str, Any]:
    """The set_stats data the security_breach role leaves when it does not rotate, rendered
    for the plan its first task records from ``values``."""
    tasks = yaml.safe_load(ROLE_TASKS.read_text())
    (handover,) = [t for t in tasks if "ansible.builtin.set_stats" in t]
    assert handover["when"] == "not security_breach_plan.rotate"
    plan = {
        "incident_id": values["security_breach_incident_id"],
        "ips": _lines(values["security_breach_ips"]),
        "rotate_targets": values["security_breach_rotate_targets"],
        "rotate": values["security_breach_rotate"],
    }
    env = NativeEnvironment()
    return {
        key: env.from_string(text).render(security_breach_plan=plan)
        for key, text in handover["ansible.builtin.set_stats"]["data"].items()
    }


def test_the_workflow_contains_then_approves_then_rotates(exported: dict[str, Any]) -> None:
    (flow,) = exported["workflow_job_templates"]
    assert flow["name"] == APPROVAL_WORKFLOW
    contain, approve, rotate = flow["nodes"]
    assert contain["unified_job_template"] == "irdrive security-breach"
    assert contain["success_nodes"] == [approve["identifier"]]
    assert "approval_node" in approve and "unified_job_template" not in approve
    assert approve["success_nodes"] == [rotate["identifier"]]
    assert rotate["unified_job_template"] == "irdrive rotate-secrets"
    assert "success_nodes" not in rotate
    assert flow["extra_vars"] == {"security_breach_rotate": False}
    # The survey asks what an alert knows; the approval node, not a typed name, is the yes.
    spec = flow["survey_spec"]
    assert spec_errors(spec) == []
    questions = {q["variable"]: q for q in spec["spec"]}
    assert tuple(questions) == WORKFLOW_SURVEY and CONFIRM_VARIABLE not in questions
    assert questions["security_breach_ips"]["type"] == "textarea"
    assert questions["security_breach_ips"]["required"]
    assert questions["security_breach_incident_id"]["required"]
    for item in spec["spec"]:
        assert answer_errors(item, ANSWERS) == [], item
    assert answer_errors(questions["security_breach_ips"], {"security_breach_ips": ""}) != []


def test_each_node_gets_what_its_runbook_needs(exported: dict[str, Any], catalog: Catalog) -> None:
    (flow,) = exported["workflow_job_templates"]
    jts = {jt["name"]: jt for jt in exported["job_templates"]}
    workflow_vars = {**flow["extra_vars"], **ANSWERS}
    breach, rotation = catalog.get("security-breach"), catalog.get("rotate-secrets")

    contain_jt = jts["irdrive security-breach"]
    assert contain_jt["ask_variables_on_launch"] is False  # what the workflow passes still lands
    contain = node_job_extra_vars(contain_jt, workflow_vars)
    assert CONFIRM_VARIABLE not in contain  # its check runs only when the answer is given
    checked = _valid(breach, contain)
    assert checked["security_breach_rotate"] is False
    assert checked["security_breach_incident_id"] == ANSWERS["security_breach_incident_id"]
    # A node's own extra_data would not have done: not a prompt of that template.
    alone = node_job_extra_vars(contain_jt, {}, node_extra_data={"security_breach_rotate": False})
    assert "security_breach_rotate" not in alone

    defaults = {name: p.default for name, p in breach.parameters.items()}
    artifacts = _artifacts({**defaults, **contain})  # the role reads the raw extra vars
    rotate_jt = jts["irdrive rotate-secrets"]
    rotate = node_job_extra_vars(rotate_jt, workflow_vars, artifacts)
    assert CONFIRM_VARIABLE not in rotate
    checked = _valid(rotation, rotate)
    assert checked["rotate_secrets_rotation_id"] == ANSWERS["security_breach_incident_id"]
    assert checked["rotate_secrets_session_ips"] == ["198.51.100.7", "2001:db8::6"]
    assert checked["rotate_secrets_targets"] == defaults["security_breach_rotate_targets"]
    required = {name for name, p in rotation.parameters.items() if p.required}
    assert required <= set(rotate)
    # Without the containment job's artifacts the rotation would have no id.
    assert "rotate_secrets_rotation_id" not in node_job_extra_vars(rotate_jt, workflow_vars)


def test_the_playbook_leaves_rotation_out_only_when_asked() -> None:
    plays = yaml.safe_load((REPO / "playbooks" / "security-breach.yml").read_text())
    (step4,) = [
        p for p in plays if p.get("ansible.builtin.import_playbook") == "rotate-secrets.yml"
    ]
    assert step4["when"] == "hostvars['localhost'].security_breach_plan.rotate"
    spec = yaml.safe_load((REPO / "roles/security_breach/meta/argument_specs.yml").read_text())
    option = spec["argument_specs"]["main"]["options"]["security_breach_rotate"]
    assert option["type"] == "bool" and option["default"] is True
    tasks = yaml.safe_load(ROLE_TASKS.read_text())
    (preflight,) = [t for t in tasks if t.get("vars", {}).get("rotate_secrets_rotation_id")]
    assert preflight["when"] == "security_breach_plan.rotate"
