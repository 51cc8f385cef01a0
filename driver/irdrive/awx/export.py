"""``irdrive awx export``: AWX job templates with surveys, from the runbook catalog.

Three shapes of the same data:

- ``json``: one record a runbook (job template name, playbook, survey, the parameters left to
  extra vars and why) plus the approval workflow, for people and for tests;
- ``awx-import``: what ``awx import`` (awxkit) reads: ``projects``, ``inventory``,
  ``credential_types``, ``execution_environments``, ``job_templates`` and
  ``workflow_job_templates``, related objects named by their natural keys;
- ``job-templates``: the arguments of awx.awx's ``job_template`` and ``workflow_job_template``
  modules, as a vars file for ``awx/configure.yml``.

Names (the contract the rulebooks use): job template ``irdrive <runbook>``, workflow
``irdrive security-breach (approval)``, project ``irdrive``, inventory ``irdrive lab``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irdrive.awx.survey import Skipped, survey
from irdrive.catalog import Catalog, Runbook, load_yaml
from irdrive.errors import UsageError

FORMATS = ("json", "awx-import", "job-templates")
PROJECT = "irdrive"
INVENTORY = "irdrive lab"
EXECUTION_ENVIRONMENT = "irdrive"
APPROVAL_RUNBOOK = "security-breach"
APPROVAL_WORKFLOW = f"irdrive {APPROVAL_RUNBOOK} (approval)"
ROTATION_RUNBOOK = "rotate-secrets"  # the workflow's node after the approval
# The workflow's survey: what an alert knows (rulebooks/alertmanager-awx.yml passes these).
WORKFLOW_SURVEY = ("security_breach_incident_id", "security_breach_ips", "security_breach_reason")
# The credentials each job template carries: AWX's built-in Kubernetes and AWS types, and the
# project's own types (awx/credential_types/). credential name -> credential type (name, kind).
CREDENTIALS: dict[str, tuple[str, str]] = {
    "irdrive kubernetes": ("OpenShift or Kubernetes API Bearer Token", "kubernetes"),
    "irdrive aws": ("Amazon Web Services", "cloud"),
    "irdrive postgresql": ("irdrive PostgreSQL", "cloud"),
    "irdrive platform admin": ("irdrive platform admin token", "cloud"),
    "irdrive processor API keys": ("irdrive processor API keys", "cloud"),
}
# Credentials only some runbooks read: credential name -> those runbooks. (The others go on every
# job template: the composites run the roles that read them.)
ONLY_FOR: dict[str, tuple[str, ...]] = {
    "irdrive processor API keys": ("payments-failover",),
}


def credentials_for(runbook: str) -> list[str]:
    """The credentials a runbook's job template carries, by name."""
    return [name for name in CREDENTIALS if runbook in ONLY_FOR.get(name, (runbook,))]


def template_name(runbook: str) -> str:
    return f"irdrive {runbook}"


@dataclass
class Settings:
    """Where the job templates point: organization, project source, execution environment."""

    organization: str = "Default"
    scm_url: str = ""  # empty: a manual project in AWX's projects folder (local_path)
    scm_branch: str = ""
    local_path: str = "irdrive"
    ee_image: str = "localhost/irdrive-ee:latest"


@dataclass
class Template:
    runbook: Runbook
    survey_spec: dict[str, Any]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def name(self) -> str:
        return template_name(self.runbook.name)

    @property
    def playbook(self) -> str:
        return f"playbooks/{self.runbook.path.name}"

    @property
    def ask_variables_on_launch(self) -> bool:
        # A destructive runbook takes only its survey's answers: nothing unasked rides along.
        return not self.runbook.destructive

    def description(self) -> str:
        text = self.runbook.summary or self.runbook.description
        return text[:512]


def templates(catalog: Catalog) -> list[Template]:
    """One template a runbook; a runbook that cannot be read is an error, not left out."""
    found = []
    for name in catalog.names():
        runbook = catalog.get(name)
        spec, skipped = survey(runbook)
        found.append(Template(runbook, spec, skipped))
    return found


def credential_types(root: Path) -> list[dict[str, Any]]:
    """The project's custom credential types (awx/credential_types/*.yml), as AWX takes them."""
    folder = root / "awx" / "credential_types"
    types = []
    for path in sorted(folder.glob("*.yml")):
        data = load_yaml(path)
        if not isinstance(data, dict) or not {"name", "kind", "inputs", "injectors"} <= set(data):
            raise UsageError(f"{path.name}: a credential type needs name, kind, inputs, injectors")
        types.append(data)
    return types


# ---- json -----------------------------------------------------------------------------------
def as_json(items: list[Template], settings: Settings) -> dict[str, Any]:
    return {
        "organization": settings.organization,
        "project": PROJECT,
        "inventory": INVENTORY,
        "job_templates": [
            {
                "name": t.name,
                "runbook": t.runbook.name,
                "playbook": t.playbook,
                "destructive": t.runbook.destructive,
                "ask_variables_on_launch": t.ask_variables_on_launch,
                "survey_enabled": bool(t.survey_spec["spec"]),
                "survey_spec": t.survey_spec,
                "extra_vars_only": [s.to_dict() for s in t.skipped],
                "credentials": credentials_for(t.runbook.name),
            }
            for t in items
        ],
        "workflow_job_templates": [workflow(items)],
    }


def workflow(items: list[Template]) -> dict[str, Any]:
    """The security-breach workflow: containment, an approval node, then rotation.

    Containment (kill switches, evidence, IP blocks) waits for nobody: ``irdrive security-breach``
    runs with ``security_breach_rotate: false`` (the workflow's own extra vars). The approval node
    holds the rotation for a person; ``irdrive rotate-secrets`` then rotates, keyed by the
    incident id, from the artifacts the containment job left (its ``set_stats``: rotation id,
    targets, session addresses), which AWX passes on through the approval node.

    AWX gives the workflow's extra vars and survey answers to every job node whatever its
    ``ask_variables_on_launch``, and a required survey question a node's template leaves
    unanswered does not stop the node. So the workflow's survey asks only what the alert knows:
    the incident id, the addresses and the reason; no ``irdrive_confirm``, because the approval
    node is the person's decision (the playbooks check ``irdrive_confirm`` only when it is given).
    """
    by_runbook = {t.runbook.name: t for t in items}
    missing = [r for r in (APPROVAL_RUNBOOK, ROTATION_RUNBOOK) if r not in by_runbook]
    if missing:
        raise UsageError(f"no {', '.join(missing)} runbook: the approval workflow has no job")
    target = by_runbook[APPROVAL_RUNBOOK]
    questions = {q["variable"]: q for q in target.survey_spec["spec"]}
    absent = [v for v in WORKFLOW_SURVEY if v not in questions]
    if absent:
        raise UsageError(f"{APPROVAL_RUNBOOK}'s survey has no {', '.join(absent)} question")
    return {
        "name": APPROVAL_WORKFLOW,
        "description": (
            f"Contain now, approve, then rotate: {APPROVAL_RUNBOOK} without rotation, "
            f"an approval node, {ROTATION_RUNBOOK} keyed by the incident id."
        ),
        "extra_vars": {"security_breach_rotate": False},
        "survey_spec": {
            "name": APPROVAL_WORKFLOW,
            "description": target.survey_spec["description"],
            "spec": [questions[v] for v in WORKFLOW_SURVEY],
        },
        "nodes": [
            {
                "identifier": "contain",
                "unified_job_template": target.name,
                "success_nodes": ["approve"],
            },
            {
                "identifier": "approve",
                "approval_node": {
                    "name": f"Approve {ROTATION_RUNBOOK}",
                    "description": (
                        "Contained (kill switches, evidence, IP blocks): a person approves the "
                        "rotation of credentials and the revocation of sessions."
                    ),
                    "timeout": 3600,
                },
                "success_nodes": ["rotate"],
            },
            {"identifier": "rotate", "unified_job_template": template_name(ROTATION_RUNBOOK)},
        ],
    }


# ---- awx import -----------------------------------------------------------------------------
def _key(resource: str, name: str, **more: Any) -> dict[str, Any]:
    return {"type": resource, "name": name, **more}


def _org(settings: Settings) -> dict[str, Any]:
    return _key("organization", settings.organization)


def _credential_key(name: str, settings: Settings) -> dict[str, Any]:
    type_name, kind = CREDENTIALS[name]
    return _key(
        "credential",
        name,
        organization=_org(settings),
        credential_type=_key("credential_type", type_name, kind=kind),
    )


def as_awx_import(items: list[Template], settings: Settings, root: Path) -> dict[str, Any]:
    org = _org(settings)
    project_key = _key("project", PROJECT, organization=org)
    inventory_key = _key("inventory", INVENTORY, organization=org)
    ee_key = _key("execution_environment", EXECUTION_ENVIRONMENT)
    project: dict[str, Any] = {
        "name": PROJECT,
        "description": "irdrive runbooks",
        "organization": org,
        "scm_type": "git" if settings.scm_url else "",
        "scm_url": settings.scm_url,
        "scm_branch": settings.scm_branch,
        "scm_update_on_launch": bool(settings.scm_url),
        "default_environment": ee_key,
        "natural_key": project_key,
    }
    if not settings.scm_url:
        project["local_path"] = settings.local_path
    job_templates = []
    for t in items:
        related: dict[str, Any] = {
            "credentials": [
                _credential_key(name, settings) for name in credentials_for(t.runbook.name)
            ],
        }
        if t.survey_spec["spec"]:
            related["survey_spec"] = t.survey_spec
        job_templates.append(
            {
                "name": t.name,
                "description": t.description(),
                "job_type": "run",
                "inventory": inventory_key,
                "project": project_key,
                "playbook": t.playbook,
                "execution_environment": ee_key,
                "ask_variables_on_launch": t.ask_variables_on_launch,
                "survey_enabled": bool(t.survey_spec["spec"]),
                "extra_vars": "---",
                "related": related,
                "natural_key": _key("job_template", t.name, organization=org),
            }
        )
    flow = workflow(items)
    wf_key = _key("workflow_job_template", flow["name"], organization=org)
    nodes = []
    for node in flow["nodes"]:
        entry: dict[str, Any] = {
            "identifier": node["identifier"],
            "natural_key": {
                "type": "workflow_job_template_node",
                "workflow_job_template": wf_key,
                "identifier": node["identifier"],
            },
            "related": {
                "success_nodes": [
                    {
                        "type": "workflow_job_template_node",
                        "workflow_job_template": wf_key,
                        "identifier": nxt,
                    }
                    for nxt in node.get("success_nodes", [])
                ]
            },
        }
        if "approval_node" in node:
            entry["related"]["create_approval_template"] = node["approval_node"]
        else:
            entry["unified_job_template"] = _key(
                "job_template", node["unified_job_template"], organization=org
            )
        nodes.append(entry)
    return {
        "execution_environments": [
            {
                "name": EXECUTION_ENVIRONMENT,
                "image": settings.ee_image,
                "pull": "missing",
                "description": "irdrive's execution environment (execution-environment.yml)",
                "natural_key": ee_key,
            }
        ],
        "credential_types": [
            {**ct, "natural_key": _key("credential_type", ct["name"], kind=ct["kind"])}
            for ct in credential_types(root)
        ],
        "projects": [project],
        "inventory": [
            {
                "name": INVENTORY,
                "description": "The lab, from the project's inventories/lab",
                "organization": org,
                "kind": "",
                "variables": "---",
                "natural_key": inventory_key,
            }
        ],
        "job_templates": job_templates,
        "workflow_job_templates": [
            {
                "name": flow["name"],
                "description": flow["description"],
                "organization": org,
                "extra_vars": json.dumps(flow["extra_vars"]),
                "ask_variables_on_launch": False,
                "survey_enabled": True,
                "related": {"survey_spec": flow["survey_spec"], "workflow_nodes": nodes},
                "natural_key": wf_key,
            }
        ],
    }


# ---- awx.awx module arguments ----------------------------------------------------------------
def as_job_templates(items: list[Template], settings: Settings) -> dict[str, Any]:
    """awx.awx.job_template / workflow_job_template arguments (a vars file for configure.yml)."""
    jts = []
    for t in items:
        args: dict[str, Any] = {
            "name": t.name,
            "description": t.description(),
            "organization": settings.organization,
            "project": PROJECT,
            "inventory": INVENTORY,
            "playbook": t.playbook,
            "job_type": "run",
            "execution_environment": EXECUTION_ENVIRONMENT,
            "credentials": credentials_for(t.runbook.name),
            "ask_variables_on_launch": t.ask_variables_on_launch,
            "survey_enabled": bool(t.survey_spec["spec"]),
        }
        if t.survey_spec["spec"]:
            args["survey_spec"] = t.survey_spec
        jts.append(args)
    flow = workflow(items)
    nodes = []
    # awx.awx.workflow_job_template_node links success_nodes by identifier: targets first.
    for node in reversed(flow["nodes"]):
        entry: dict[str, Any] = {
            "workflow_job_template": flow["name"],
            "organization": settings.organization,
            "identifier": node["identifier"],
        }
        if "approval_node" in node:
            entry["approval_node"] = node["approval_node"]
        else:
            entry["unified_job_template"] = node["unified_job_template"]
            entry["lookup_organization"] = settings.organization
        if node.get("success_nodes"):
            entry["success_nodes"] = list(node["success_nodes"])
        nodes.append(entry)
    return {
        "irdrive_awx_organization": settings.organization,
        "irdrive_awx_job_templates": jts,
        "irdrive_awx_workflows": [
            {
                "name": flow["name"],
                "description": flow["description"],
                "organization": settings.organization,
                "inventory": INVENTORY,
                "extra_vars": flow["extra_vars"],
                "ask_variables_on_launch": False,
                "survey_enabled": True,
                "survey_spec": flow["survey_spec"],
            }
        ],
        "irdrive_awx_workflow_nodes": nodes,
    }


def export(catalog: Catalog, fmt: str, settings: Settings) -> dict[str, Any]:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    items = templates(catalog)
    if fmt == "awx-import":
        return as_awx_import(items, settings, catalog.project.root)
    if fmt == "job-templates":
        return as_job_templates(items, settings)
    return as_json(items, settings)
