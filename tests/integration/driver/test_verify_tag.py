"""A verification is what its tag says, not what its name says: real role, real run, the lab.

A copy of the project whose kill_switch role is edited the way a person would edit it: its
verification renamed for clarity still counts; a task named "Verify ..." without the tag
does not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.lab

IRDRIVE = str(Path(sys.executable).parent / "irdrive")
ROLE_TASKS = Path("roles/kill_switch/tasks/work.yml")  # main.yml takes the lock around it


def copy_project(repo: Path, dest: Path) -> Path:
    dest.mkdir()
    for part in ("ansible.cfg", "playbooks", "roles", "collections", "inventories"):
        src = repo / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / part)
    return dest


def walk(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every task, blocks' tasks included."""
    found = []
    for task in tasks:
        found.append(task)
        for key in ("block", "rescue", "always"):
            found.extend(walk(task.get(key) or []))
    return found


def edit_verification(project: Path, edit: Callable[[dict[str, Any]], None]) -> str:
    """Apply ``edit`` to the one task of the role tagged verify; return its original name."""
    path = project / ROLE_TASKS
    tasks = yaml.safe_load(path.read_text())
    tagged = [t for t in walk(tasks) if "verify" in (t.get("tags") or [])]
    assert len(tagged) == 1, f"{ROLE_TASKS} should have one task tagged verify: {tagged}"
    name = str(tagged[0]["name"])
    edit(tagged[0])
    path.write_text(yaml.safe_dump(tasks, sort_keys=False, width=1000))
    return name


def disable_payments(project: Path, env: dict[str, str], state: Path) -> dict[str, Any]:
    env = dict(env, IRDRIVE_HOME=str(project), IRDRIVE_STATE_DIR=str(state))
    args = ["-e", "names=payments", "-e", "state=disabled", "-e", "reason=tag test"]
    res = subprocess.run(
        [IRDRIVE, "run", "kill-switch", "--yes", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report: dict[str, Any] = json.loads(res.stdout)
    return report


def test_a_renamed_verification_still_counts(
    clean_lab: dict[str, Any], lab_env: dict[str, str], repo_root: Path, tmp_path: Path
) -> None:
    project = copy_project(repo_root, tmp_path / "project")
    old = edit_verification(project, lambda task: task.update(name="Read the switches back"))
    assert old.startswith("Verify")

    report = disable_payments(project, lab_env, tmp_path / "state")
    assert {t["task"]: t["status"] for t in report["tasks"]}["Read the switches back"] == "ok"
    assert [(v["task"], v["host"]) for v in report["verified"]] == [
        ("Read the switches back", "localhost")
    ]


def test_a_task_named_verify_without_the_tag_does_not_count(
    clean_lab: dict[str, Any], lab_env: dict[str, str], repo_root: Path, tmp_path: Path
) -> None:
    project = copy_project(repo_root, tmp_path / "project")
    name = edit_verification(project, lambda task: task.pop("tags"))
    assert name.startswith("Verify")

    report = disable_payments(project, lab_env, tmp_path / "state")
    assert {t["task"]: t["status"] for t in report["tasks"]}[name] == "ok"
    assert report["verified"] == []
