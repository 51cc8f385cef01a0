"""The repository as AWX uses it: a project run by plain ansible-playbook, and configured by
awx/configure.yml.

- Every playbook from a copy of the project (playbooks, roles, collections, inventories,
  ansible.cfg) with no driver importable: all of them resolve their roles, collection and
  imports (syntax check); the composites, the building blocks they do not import and the
  building blocks alone (as their own job templates run them) run in check mode against the
  lab with their inputs from ``-e @vars.json`` only, free lists given as survey textarea text,
  and write nothing. A wrong launch confirmation stops a destructive runbook
  before anything. (payments-failover's real run from such a copy is in
  test_payments_failover.py.)
- awx/configure.yml against a closed port: every awx.awx module accepts its arguments and fails
  only with "Connection refused"; a copy with a misspelt option fails with "Unsupported
  parameters".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from _runbook import ANSIBLE_PLAYBOOK, writes_since
from helpers import require

from irdrive_lab.control.journal import Journal

REPO = Path(__file__).resolve().parents[2]
PROJECT_PARTS = ("ansible.cfg", "playbooks", "roles", "collections", "inventories", "configs")
# Run in check mode (one ansible-playbook): security-breach imports the kill-switch,
# preserve-evidence and block-ips playbooks and, as AWX's approval workflow runs them, leaves
# the rotation to rotate-secrets (security_breach_rotate: false), which gets what security-breach
# hands on; the composites run the other roles (diagnose, rollback, scale, db, cache,
# cdn_failover, storage); rollback takes a free list. (The driver's run of the whole
# security-breach chain is in test_security_breach.py.)
CHECKED = (
    "security-breach",
    "rotate-secrets",
    "platform-outage",
    "performance-degradation",
    "streaming-outage",
    "rollback",
)
# The building blocks alone, each as its own job template runs it (the composites run their
# roles with the composites' own values), in the same check-mode ansible-playbook: the inventory
# and their defaults are all the input they need.
BLOCKS = ("cache", "cdn-failover", "db", "diagnose")
# scale needs an input (deployments and replicas), an extra var; the composites pass their own
# scale_deployments to the scale role, and an extra var would win over it: scale's own
# ansible-playbook, as its own AWX job, run at the same time as the other.
SCALE_VARS = {"scale_deployments": {"backend": 4}}
VARS = {
    # Free lists as an AWX survey textarea gives them: text, one value a line.
    "security_breach_ips": "203.0.113.45\n198.51.100.23",
    "security_breach_incident_id": "INC-7",
    "security_breach_rotate": False,
    "rollback_deployments": "backend",
}
# What the security-breach job hands on (set_stats) to the workflow's rotate-secrets job.
HANDED_ON = {
    "rotate_secrets_rotation_id": "INC-7",
    "rotate_secrets_targets": ["secretsmanager", "postgres", "k8s", "iam", "sessions"],
    "rotate_secrets_session_ips": ["203.0.113.45", "198.51.100.23"],
}


def ext_collections() -> Path:
    return Path(os.environ.get("IRDRIVE_EXT_COLLECTIONS") or REPO / ".state/ext-collections")


def copy_project(dest: Path) -> Path:
    dest.mkdir()
    for part in PROJECT_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / part)
    return dest


def no_driver_env(base: dict[str, str], tmp: Path, project: Path) -> dict[str, str]:
    """The environment of an AWX job: no irdrive package, no KUBECONFIG, the project's cfg."""
    blocker = tmp / "blocker" / "irdrive"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('the driver must not be needed')\n")
    env = {k: v for k, v in base.items() if k not in ("KUBECONFIG", "IRDRIVE_HOME")}
    env.update(
        PYTHONPATH=str(blocker.parent),
        ANSIBLE_CONFIG=str(project / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        HOME=str(tmp),
        # SSH control sockets need a short path (108 bytes at most).
        ANSIBLE_SSH_CONTROL_PATH_DIR=tempfile.mkdtemp(prefix="cp-", dir="/tmp"),
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import irdrive"], env=env, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "the driver must not be needed" in probe.stderr
    return env


def start_playbook(project: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ANSIBLE_PLAYBOOK, "-i", "inventories/lab", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def play_names(project: Path, runbooks: tuple[str, ...]) -> list[str]:
    return [
        play["name"]
        for name in runbooks
        for play in yaml.safe_load((project / "playbooks" / f"{name}.yml").read_text())
    ]


def playbook(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "inventories/lab", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.lab
def test_every_playbook_runs_from_a_project_copy_without_the_driver(
    clean_lab: dict[str, Any], lab_env: dict[str, str], tmp_path: Path
) -> None:
    project = copy_project(tmp_path / "project")
    env = no_driver_env(lab_env, tmp_path, project)
    names = sorted(p.stem for p in (project / "playbooks").glob("*.yml"))
    assert len(names) == 15 and set(CHECKED) | set(BLOCKS) | {"scale"} <= set(names)
    (project / "vars.json").write_text(json.dumps(VARS))

    def wrapper(name: str, runbooks: list[str] | tuple[str, ...]) -> str:
        plays = [{"name": n, "ansible.builtin.import_playbook": f"{n}.yml"} for n in runbooks]
        (project / "playbooks" / name).write_text(yaml.safe_dump(plays))
        return f"playbooks/{name}"

    done = playbook(project, env, "--syntax-check", wrapper("_every.yml", names))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # A wrong confirmation stops a destructive runbook at its first task.
    mark = Journal(Path(clean_lab["journal"])).mark()
    done = playbook(
        project,
        env,
        "playbooks/security-breach.yml",
        "-e",
        "@vars.json",
        "-e",
        "irdrive_confirm=rotate-secrets",
    )
    assert done.returncode == 2, done.stdout[-3000:]
    assert "irdrive_confirm must be the runbook's name, security-breach" in done.stdout
    assert "ok=0" in done.stdout

    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    env["ANSIBLE_SHOW_CUSTOM_STATS"] = "1"
    (project / "vars.json").write_text(json.dumps({**VARS, **HANDED_ON}))
    (project / "scale.json").write_text(json.dumps(SCALE_VARS))
    scale = start_playbook(project, env, "--check", "playbooks/scale.yml", "-e", "@scale.json")
    try:
        done = playbook(
            project, env, "--check", wrapper("_checked.yml", CHECKED + BLOCKS), "-e", "@vars.json"
        )
        scale_out, scale_err = scale.communicate(timeout=600)
    finally:
        if scale.poll() is None:
            scale.kill()
            scale.communicate()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert scale.returncode == 0, scale_out[-6000:] + scale_err[-3000:]
    report = json.loads(done.stdout)
    assert [p["play"]["name"] for p in report["plays"]][0] == "Plan the security breach response"
    assert all(stats["failures"] == 0 for stats in report["stats"].values()), report["stats"]
    # The free lists arrived as text, one value a line, and the roles read them as lists.
    facts = [
        result["ansible_facts"]
        for play in report["plays"]
        for task in play["tasks"]
        for result in task["hosts"].values()
        if "security_breach_plan" in result.get("ansible_facts", {})
    ]
    assert facts and facts[0]["security_breach_plan"]["ips"] == ["203.0.113.45", "198.51.100.23"]
    # (Beside the report's own stats, irdrive_changes and the like, which no role reads.)
    stats = report["global_custom_stats"]
    assert {k: v for k, v in stats.items() if k.startswith("rotate_secrets_")} == HANDED_ON
    # Step 4 of security-breach was left out (its play skipped every task); rotate-secrets ran
    # as the next job.
    inside, alone = [p for p in report["plays"] if p["play"]["name"] == "Rotate secrets"]

    def skipped(play: dict[str, Any]) -> bool:
        return all(r.get("skipped") for t in play["tasks"] for r in t["hosts"].values())

    assert inside["tasks"] and skipped(inside)
    assert not skipped(alone)
    # The building blocks alone ran after the composites, every play of each, none skipped.
    tail = play_names(project, BLOCKS)
    assert len(tail) >= len(BLOCKS)
    assert [p["play"]["name"] for p in report["plays"]][-len(tail) :] == tail
    assert not any(skipped(play) for play in report["plays"][-len(tail) :])
    # scale, as its own job: its input arrived as the dict it is, and check mode shows the
    # change it would make.
    scaled = json.loads(scale_out)
    assert all(stats["failures"] == 0 for stats in scaled["stats"].values()), scaled["stats"]
    changed = [
        result
        for play in scaled["plays"]
        for task in play["tasks"]
        for result in task["hosts"].values()
        if result.get("changed")
    ]
    assert changed and scaled["stats"]["localhost"]["changed"] >= 1
    assert writes_since(clean_lab, mark) == []


def test_configure_validates_every_module_against_a_closed_port(tmp_path: Path) -> None:
    collections = ext_collections()
    require(
        (collections / "ansible_collections/awx/awx/MANIFEST.json").is_file(),
        f"awx.awx in {collections} (make install runs scripts/ext-collections)",
    )
    export = tmp_path / "job_templates.json"
    done = subprocess.run(
        [sys.executable, "-m", "irdrive.cli", "awx", "export", "--format", "job-templates"],
        capture_output=True,
        text=True,
        env=dict(os.environ, IRDRIVE_HOME=str(REPO)),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    # Two job templates (one destructive) show each task's arguments; the survey specs
    # themselves are checked against AWX's rules in the unit tests.
    keep = {"irdrive payments-failover", "irdrive security-breach"}
    data["irdrive_awx_job_templates"] = [
        jt for jt in data["irdrive_awx_job_templates"] if jt["name"] in keep
    ]
    export.write_text(json.dumps(data))

    shutil.copytree(REPO / "awx", tmp_path / "awx")
    plays = yaml.safe_load((REPO / "awx/configure.yml").read_text())
    plays[0]["ignore_errors"] = True  # every task runs, so every module checks its arguments
    for task in plays[0]["tasks"]:
        task.pop("no_log", None)  # the test reads each result's message
    typo = {
        "name": "Misspelt option",
        "awx.awx.inventory": {"name": "irdrive lab", "organization": "Default", "descripton": "x"},
    }
    plays[0]["tasks"].append(typo)
    (tmp_path / "awx/configure.yml").write_text(yaml.safe_dump(plays, sort_keys=False))

    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=f"{REPO / 'collections'}:{collections}",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    credentials = {"irdrive aws": {"username": "AKIAEXAMPLE", "password": "not-a-secret"}}
    args = [
        "-i",
        "localhost,",
        "-e",
        f"@{export}",
        "-e",
        "irdrive_awx_host=http://127.0.0.1:9",
        "-e",
        json.dumps({"irdrive_awx_credentials": credentials}),
    ]
    syntax = subprocess.run(
        [ANSIBLE_PLAYBOOK, "--syntax-check", str(REPO / "awx/configure.yml"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    done = subprocess.run(
        [ANSIBLE_PLAYBOOK, str(tmp_path / "awx/configure.yml"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    messages: dict[str, list[str]] = {}
    for task in report["plays"][0]["tasks"]:
        result = task["hosts"]["localhost"]
        items = result.get("results", [result])
        messages[task["task"]["name"]] = [str(item.get("msg", "")) for item in items]
    module_tasks = [
        t["name"] for t in plays[0]["tasks"] if any(k.startswith("awx.awx.") for k in t)
    ]
    assert len(module_tasks) == 11
    for name in module_tasks[:-1]:
        for msg in messages[name]:
            assert "Connection refused" in msg, (name, msg)
    calls = {name: len(messages[name]) for name in module_tasks[:-1]}
    assert calls == {
        "Organization": 1,
        "Execution environment": 1,
        "Custom credential types": 3,
        "Credentials": 1,
        "Project": 1,
        "Inventory": 1,
        "Inventory source (the project's inventories/lab)": 1,
        "Job templates, with their surveys": 2,
        "Approval workflows": 1,
        "Workflow nodes (containment, the approval, then rotation)": 3,
    }
    (typo_msg,) = messages["Misspelt option"]
    assert "Unsupported parameters" in typo_msg and "descripton" in typo_msg, typo_msg
