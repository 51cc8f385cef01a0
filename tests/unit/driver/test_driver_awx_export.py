"""irdrive awx export: job templates and surveys from the real catalog, checked by AWX's rules.

Every generated survey is checked with the rules AWX applies when a survey is saved and when a
job is launched (tests/awx_rules.py), and every answer AWX would accept is one the role's own
argument spec accepts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from awx_rules import answer_errors, default_answer, spec_errors
from click.testing import CliRunner

from irdrive.awx.export import APPROVAL_WORKFLOW, Settings, export
from irdrive.awx.survey import CONFIRM_VARIABLE
from irdrive.catalog import Catalog, Runbook
from irdrive.cli import cli
from irdrive.paths import Project
from irdrive.yamlcache import YamlCache

REPO = Path(__file__).resolve().parents[3]
DESTRUCTIVE = {"security-breach", "rotate-secrets", "kill-switch"}
AUTOMATIC = {"payments-failover", "streaming-outage", "performance-degradation", "diagnose"}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    cache = YamlCache(tmp_path_factory.mktemp("cache") / "yaml.json")
    return Catalog(Project(REPO), cache=cache)


@pytest.fixture(scope="module")
def exported(catalog: Catalog) -> dict[str, Any]:
    return export(catalog, "json", Settings())


@pytest.fixture(scope="module")
def runbooks(catalog: Catalog) -> dict[str, Runbook]:
    return {rb.name: rb for rb in catalog.runbooks()}


def test_destructive_contract(runbooks: dict[str, Runbook]) -> None:
    destructive = {name for name, rb in runbooks.items() if rb.destructive}
    assert destructive == DESTRUCTIVE
    assert not destructive & AUTOMATIC
    assert runbooks["security-breach"].to_dict()["destructive"] is True
    assert runbooks["payments-failover"].to_dict()["destructive"] is False


def test_every_survey_is_valid_by_awx_rules(exported: dict[str, Any]) -> None:
    templates = exported["job_templates"]
    assert len(templates) == 15
    for jt in templates:
        assert jt["name"] == f"irdrive {jt['runbook']}"
        assert jt["survey_enabled"], jt["name"]
        assert spec_errors(jt["survey_spec"]) == [], jt["name"]
        for item in jt["survey_spec"]["spec"]:
            if "default" in item:
                assert answer_errors(item, default_answer(item)) == [], (jt["name"], item)
            if item["required"]:
                assert answer_errors(item, {}) == [f"'{item['variable']}' value missing"]
    assert spec_errors(exported["workflow_job_templates"][0]["survey_spec"]) == []


def _sample(item: dict[str, Any]) -> Any:
    """An answer AWX accepts for the question."""
    kind = item["type"]
    if kind == "multiplechoice":
        return item["choices"][-1]
    if kind == "multiselect":
        return item["choices"][:2]
    if kind == "integer":
        return item.get("min") or 3
    if kind == "float":
        return 2.5
    if kind == "textarea":
        return "203.0.113.9\n198.51.100.7"
    length = item.get("min") or 5
    return "x" * length


def test_accepted_answers_are_what_the_roles_declare(
    exported: dict[str, Any], runbooks: dict[str, Runbook]
) -> None:
    for jt in exported["job_templates"]:
        runbook = runbooks[jt["runbook"]]
        asked = set()
        for item in jt["survey_spec"]["spec"]:
            answer = {item["variable"]: _sample(item)}
            assert answer_errors(item, answer) == [], item
            if item["variable"] == CONFIRM_VARIABLE:
                continue
            asked.add(item["variable"])
            param = runbook.parameters[item["variable"]]
            result = ArgumentSpecValidator({param.name: dict(param.spec)}).validate(answer)
            assert result.error_messages == [], (jt["name"], item, result.error_messages)
            value = result.validated_parameters[param.name]
            if item["type"] != "textarea":  # a textarea is read with irdrive.ops.lines
                assert value == answer[param.name], item
        # Every parameter is asked for, or listed with the reason it is not.
        left = {s["variable"] for s in jt["extra_vars_only"]}
        assert asked | left == set(runbook.parameters), jt["name"]
        assert not asked & left
        assert all(s["reason"] for s in jt["extra_vars_only"])
        # A required parameter is always asked for.
        assert {p.name for p in runbook.parameters.values() if p.required} <= asked


def test_secrets_are_password_questions_without_defaults(
    exported: dict[str, Any], runbooks: dict[str, Runbook]
) -> None:
    seen = 0
    for jt in exported["job_templates"]:
        secrets = runbooks[jt["runbook"]].secrets
        for item in jt["survey_spec"]["spec"]:
            if item["variable"] in secrets:
                seen += 1
                assert item["type"] == "password" and "default" not in item, item
            else:
                assert item["type"] != "password", item
    assert seen >= 1


def test_destructive_runbooks_ask_for_their_name(exported: dict[str, Any]) -> None:
    for jt in exported["job_templates"]:
        first = jt["survey_spec"]["spec"][0]
        if jt["destructive"]:
            assert jt["ask_variables_on_launch"] is False
            assert first["variable"] == CONFIRM_VARIABLE and first["required"]
            name = jt["runbook"]
            assert answer_errors(first, {CONFIRM_VARIABLE: name}) == []
            assert answer_errors(first, {CONFIRM_VARIABLE: ""}) != []
            assert answer_errors(first, {CONFIRM_VARIABLE: name + "!"}) != []
        else:
            assert jt["ask_variables_on_launch"] is True
            assert all(i["variable"] != CONFIRM_VARIABLE for i in jt["survey_spec"]["spec"])


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"type": "checkbox"}, "not an allowed question type"),
        ({"type": "integer", "default": "3"}, "wrong type"),
        ({"min": 1.5}, "expected to be integer"),
        ({"type": "multiplechoice", "choices": ["a"], "default": "b"}, "Default choice"),
        ({"type": "multiplechoice"}, "must specify choices"),
        ({"required": "yes"}, "expected to be boolean"),
        ({"default": "$encrypted$"}, "reserved keyword"),
    ],
)
def test_the_rules_catch_broken_questions(broken: dict[str, Any], problem: str) -> None:
    item = {"question_name": "Q", "variable": "v", "type": "text", "required": False, **broken}
    errors = spec_errors({"name": "", "description": "", "spec": [item]})
    assert any(problem in e for e in errors), errors


def test_awx_import_uses_awxkit_natural_keys(catalog: Catalog) -> None:
    pages = pytest.importorskip("awxkit.api.pages")
    data = export(catalog, "awx-import", Settings(organization="Ops"))
    keys = {
        "job_template": pages.JobTemplate.NATURAL_KEY,
        "project": pages.Project.NATURAL_KEY,
        "inventory": pages.Inventory.NATURAL_KEY,
        "credential": pages.Credential.NATURAL_KEY,
        "credential_type": pages.CredentialType.NATURAL_KEY,
        "organization": pages.Organization.NATURAL_KEY,
        "execution_environment": pages.ExecutionEnvironment.NATURAL_KEY,
        "workflow_job_template": pages.WorkflowJobTemplate.NATURAL_KEY,
    }

    def check(key: dict[str, Any]) -> None:
        assert set(keys[key["type"]]) <= set(key) - {"type"}, key
        for value in key.values():
            if isinstance(value, dict):
                check(value)

    assert set(data) <= set(pages.api.EXPORTABLE_RESOURCES)
    for resource in data.values():
        for asset in resource:
            check(asset["natural_key"])
    for jt in data["job_templates"]:
        for field in ("project", "inventory", "execution_environment"):
            check(jt[field])
        for cred in jt["related"]["credentials"]:
            check(cred)
        assert jt["project"]["organization"] == {"type": "organization", "name": "Ops"}
    names = {ct["name"] for ct in data["credential_types"]}
    assert names == {
        "irdrive PostgreSQL",
        "irdrive platform admin token",
        "irdrive processor API keys",
    }
    # Every credential a job template names is of a type the export defines, or AWX's own.
    builtin = {"OpenShift or Kubernetes API Bearer Token", "Amazon Web Services"}
    for jt in data["job_templates"]:
        for cred in jt["related"]["credentials"]:
            assert cred["credential_type"]["name"] in names | builtin, cred
    (flow,) = data["workflow_job_templates"]
    assert flow["name"] == APPROVAL_WORKFLOW
    contain, approve, rotate = flow["related"]["workflow_nodes"]
    assert contain["unified_job_template"]["name"] == "irdrive security-breach"
    assert contain["related"]["success_nodes"][0]["identifier"] == approve["identifier"]
    assert "create_approval_template" in approve["related"]
    assert approve["related"]["success_nodes"][0]["identifier"] == rotate["identifier"]
    assert rotate["unified_job_template"]["name"] == "irdrive rotate-secrets"
    assert json.loads(flow["extra_vars"]) == {"security_breach_rotate": False}


def test_the_processor_keys_go_only_to_the_runbook_that_reads_them(
    catalog: Catalog, exported: dict[str, Any]
) -> None:
    """payments-failover (its backup's API, checked with its key) carries the processor API
    keys credential; no other job template gets secrets it never reads."""
    keys = "irdrive processor API keys"
    carrying = {jt["runbook"] for jt in exported["job_templates"] if keys in jt["credentials"]}
    assert carrying == {"payments-failover"}
    for jt in exported["job_templates"]:
        assert {"irdrive kubernetes", "irdrive aws", "irdrive postgresql"} <= set(jt["credentials"])
    for fmt, key in (
        ("job-templates", "irdrive_awx_job_templates"),
        ("awx-import", "job_templates"),
    ):
        data = export(catalog, fmt, Settings())
        for jt in data[key]:
            creds = jt.get("credentials") or jt["related"]["credentials"]
            names = [c if isinstance(c, str) else c["name"] for c in creds]
            assert (keys in names) == (jt["name"] == "irdrive payments-failover"), jt["name"]
    # The secret is a parameter given as an extra var (a dict), never a survey question.
    (pf,) = [jt for jt in exported["job_templates"] if jt["runbook"] == "payments-failover"]
    assert "processor_failover_api_keys" not in {q["variable"] for q in pf["survey_spec"]["spec"]}
    left = {s["variable"]: s["reason"] for s in pf["extra_vars_only"]}
    assert "secret" in left["processor_failover_api_keys"]


def test_cli_writes_each_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRDRIVE_HOME", str(REPO))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runner = CliRunner()
    out = tmp_path / "jt.json"
    done = runner.invoke(
        cli, ["awx", "export", "--format", "job-templates", "--organization", "Ops", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    data = json.loads(out.read_text())
    assert data["irdrive_awx_organization"] == "Ops"
    jts = {jt["name"]: jt for jt in data["irdrive_awx_job_templates"]}
    assert jts["irdrive payments-failover"]["playbook"] == "playbooks/payments-failover.yml"
    assert jts["irdrive rotate-secrets"]["ask_variables_on_launch"] is False
    done = runner.invoke(cli, ["awx", "export", "--format", "yaml"])
    assert done.exit_code == 2 and "yaml" in done.output
