"""Freshness: which files make a runbook, when their digest changes, and the never/fresh/stale
decision against a frozen clock."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from irdrive import freshness
from irdrive.errors import UsageError
from irdrive.history import DrillRecord
from irdrive.paths import Project

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # the frozen clock
COLL = "collections/ansible_collections/irdrive/ops/plugins"

FILES = {
    "ansible.cfg": "[defaults]\nstrategy = irdrive.ops.steady\n",
    "playbooks/fix.yml": (
        "- import_playbook: shared.yml\n"
        "- name: Fix\n  hosts: localhost\n  roles:\n    - alpha\n"
        "  tasks:\n    - name: Extra\n      ansible.builtin.include_role:\n        name: beta\n"
        "    - name: Local tasks\n      ansible.builtin.import_tasks: tasks/local.yml\n"
    ),
    "playbooks/shared.yml": "- name: Shared\n  hosts: localhost\n  roles: [gamma]\n",
    "playbooks/tasks/local.yml": '- name: Filtered\n  debug:\n    msg: "{{ x | irdrive.ops.shape }}"\n',
    "playbooks/other.yml": "- name: Other\n  hosts: localhost\n  roles: [unrelated]\n",
    "roles/alpha/tasks/main.yml": "- name: Act\n  irdrive.ops.act:\n    x: 1\n",
    "roles/alpha/meta/main.yml": "dependencies:\n  - role: delta\n",
    "roles/alpha/templates/t.j2": "{{ 1 }}\n",
    "roles/beta/tasks/main.yml": "- name: B\n  ansible.builtin.debug:\n    msg: b\n",
    "roles/gamma/tasks/main.yml": "- name: G\n  ansible.builtin.debug:\n    msg: g\n",
    "roles/delta/defaults/main.yml": "delta_x: 1\n",
    "roles/unrelated/tasks/main.yml": "- name: U\n  irdrive.ops.other_mod: {}\n",
    f"{COLL}/modules/act.py": (
        "from ansible_collections.irdrive.ops.plugins.module_utils.util_a import thing\n"
    ),
    f"{COLL}/action/act.py": "from ansible.plugins.action import ActionBase\n",
    f"{COLL}/modules/other_mod.py": "x = 1\n",
    f"{COLL}/module_utils/util_a.py": (
        "from ansible_collections.irdrive.ops.plugins.module_utils.util_b import y\n"
    ),
    f"{COLL}/module_utils/util_b.py": "y = 1\n",
    f"{COLL}/module_utils/util_c.py": "z = 1\n",
    f"{COLL}/filter/shapes.py": (
        'class FilterModule:\n    def filters(self):\n        return {"shape": str}\n'
    ),
    f"{COLL}/filter/others.py": (
        'class FilterModule:\n    def filters(self):\n        return {"nope": str}\n'
    ),
    f"{COLL}/strategy/steady.py": "s = 1\n",
}
USED = {
    "playbooks/fix.yml",
    "playbooks/shared.yml",
    "playbooks/tasks/local.yml",
    "roles/alpha/tasks/main.yml",
    "roles/alpha/meta/main.yml",
    "roles/alpha/templates/t.j2",
    "roles/beta/tasks/main.yml",
    "roles/gamma/tasks/main.yml",
    "roles/delta/defaults/main.yml",
    f"{COLL}/modules/act.py",
    f"{COLL}/action/act.py",
    f"{COLL}/module_utils/util_a.py",
    f"{COLL}/module_utils/util_b.py",
    f"{COLL}/filter/shapes.py",
    f"{COLL}/strategy/steady.py",
}
UNUSED = sorted(set(FILES) - USED - {"ansible.cfg"})
OLD = 1_600_000_000  # long ago: the caches keep only what has not changed for 2 s


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "proj"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for path in [root, *root.rglob("*")]:
        os.utime(path, (OLD, OLD))
    monkeypatch.setenv("IRDRIVE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IRDRIVE_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv(freshness.ENV_MAX_AGE, raising=False)
    return Project(root)


def rel_files(project: Project, runbook: str) -> set[str]:
    return {
        p.relative_to(project.root).as_posix() for p in freshness.runbook_files(project, runbook)
    }


def test_runbook_files_follow_roles_imports_plugins_and_module_utils(project: Project) -> None:
    assert rel_files(project, "fix") == USED
    assert rel_files(project, "other") == {
        "playbooks/other.yml",
        "roles/unrelated/tasks/main.yml",
        f"{COLL}/modules/other_mod.py",
        f"{COLL}/strategy/steady.py",
    }


@pytest.mark.parametrize("changed", sorted(USED))
def test_the_digest_changes_when_a_used_file_changes(project: Project, changed: str) -> None:
    before = freshness.files_digest(project, "fix")
    assert freshness.files_digest(project, "fix") == before  # cached, the same
    with open(project.root / changed, "a") as fh:
        fh.write("# edited\n")
    assert freshness.files_digest(project, "fix") != before


@pytest.mark.parametrize("changed", UNUSED)
def test_the_digest_stays_when_an_unrelated_file_changes(project: Project, changed: str) -> None:
    before = freshness.files_digest(project, "fix")
    with open(project.root / changed, "a") as fh:
        fh.write("# edited\n")
    assert freshness.files_digest(project, "fix") == before


def test_a_file_added_to_a_used_role_or_a_new_module_changes_the_digest(project: Project) -> None:
    before = freshness.files_digest(project, "fix")
    (project.root / "roles/beta/files").mkdir()
    (project.root / "roles/beta/files/new.txt").write_text("new\n")
    added = freshness.files_digest(project, "fix")
    assert added != before
    # A task names a module that does not exist yet; creating it changes the digest.
    with open(project.root / "roles/alpha/tasks/main.yml", "a") as fh:
        fh.write("- name: Later\n  irdrive.ops.later: {}\n")
    named = freshness.files_digest(project, "fix")
    (project.root / COLL / "modules/later.py").write_text("later = 1\n")
    assert freshness.files_digest(project, "fix") != named
    assert f"{COLL}/modules/later.py" in rel_files(project, "fix")


def test_the_digest_is_the_same_with_and_without_caches(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = freshness.files_digest(project, "fix")
    monkeypatch.setenv("IRDRIVE_CACHE_DIR", str(tmp_path / "cold"))
    assert freshness.files_digest(project, "fix") == cached


def drill(started_at: datetime, digest: str, passed: bool = True) -> DrillRecord:
    return DrillRecord(
        runbook="fix",
        scenario="fix",
        variant="",
        started_at=started_at,
        passed=passed,
        failed_check=None,
        outcome="recovered",
        detect_s=3.0,
        recover_s=20.0,
        severity="P1",
        respond_target_s=1800,
        resolve_target_s=14400,
        breached=False,
        commit=None,
        files_digest=digest,
    )


def test_never_fresh_and_stale_with_a_frozen_clock() -> None:
    limit = timedelta(days=30)
    assert freshness.judge(None, None, NOW, limit).status == freshness.NEVER
    recent = drill(NOW - timedelta(days=29, hours=23), "d1")
    assert freshness.judge(recent, "d1", NOW, limit).status == freshness.FRESH
    changed = freshness.judge(recent, "d2", NOW, limit)
    assert (changed.status, changed.reasons) == ("stale", ("its files changed since the drill",))
    old = freshness.judge(drill(NOW - timedelta(days=30, seconds=1), "d1"), "d1", NOW, limit)
    assert (old.status, old.reasons) == ("stale", ("the drill is older than 30 days",))
    both = freshness.judge(drill(NOW - timedelta(days=40), "d1"), "d2", NOW, limit)
    assert len(both.reasons) == 2


def test_assess_digests_only_runbooks_with_a_passing_drill(project: Project) -> None:
    digest = freshness.files_digest(project, "fix")
    found = freshness.assess(
        project, ["fix", "other", "gone"], {"fix": drill(NOW - timedelta(days=2), digest)}, NOW
    )
    assert {name: f.status for name, f in found.items()} == {
        "fix": "fresh",
        "other": "never",
        "gone": "never",
    }
    data = found["fix"].to_dict(NOW)
    assert data["last_passing"]["age_s"] == 2 * 86400 and data["reasons"] == []
    # A drilled runbook whose playbook is gone is stale, not an error.
    (project.root / "playbooks/fix.yml").unlink()
    gone = freshness.assess(project, ["fix"], {"fix": drill(NOW, digest)}, NOW)["fix"]
    assert gone.status == "stale"


def test_max_age_from_the_environment_or_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(freshness.ENV_MAX_AGE, raising=False)
    monkeypatch.setenv("IRDRIVE_CONFIG", str(tmp_path / "none.toml"))
    assert freshness.max_age() == timedelta(days=30)
    config = tmp_path / "config.toml"
    config.write_text("[history]\ndrill_max_age_days = 7\n")
    monkeypatch.setenv("IRDRIVE_CONFIG", str(config))
    assert freshness.max_age() == timedelta(days=7)
    monkeypatch.setenv(freshness.ENV_MAX_AGE, "0.5")
    assert freshness.max_age() == timedelta(hours=12)
    for bad in ("-1", "soon", "0"):
        monkeypatch.setenv(freshness.ENV_MAX_AGE, bad)
        with pytest.raises(UsageError, match=freshness.ENV_MAX_AGE):
            freshness.max_age()
    # With 7 days, an 8-day-old drill is stale.
    monkeypatch.delenv(freshness.ENV_MAX_AGE)
    old = freshness.judge(drill(NOW - timedelta(days=8), "d"), "d", NOW, freshness.max_age())
    assert old.reasons == ("the drill is older than 7 days",)


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=12), "12m ago"),
        (timedelta(hours=5), "5h ago"),
        (timedelta(hours=47), "47h ago"),
        (timedelta(days=3, hours=2), "3d ago"),
    ],
)
def test_ago(age: timedelta, text: str) -> None:
    assert freshness.ago(NOW - age, NOW) == text


def test_warning_lines() -> None:
    assert freshness.warning("fix", freshness.Freshness("fresh"), NOW) is None
    never = freshness.warning("fix", freshness.Freshness("never"), NOW)
    assert never == "Warning: runbook fix has never passed a drill (irdrive drill fix)"
    stale = freshness.judge(drill(NOW - timedelta(days=3), "a"), "b", NOW, timedelta(days=30))
    line = freshness.warning("fix", stale, NOW)
    assert line is not None and "stale: last passing drill 3d ago" in line
    assert "files changed" in line and "\n" not in line


def test_severity_targets_are_the_playbook_matrix() -> None:
    assert freshness.SEVERITY_TARGETS == {
        "P0": (900, 3600),
        "P1": (1800, 14400),
        "P2": (7200, 86400),
        "P3": (14400, 259200),
    }


def test_runbook_commit(tmp_path: Path) -> None:
    repo = Project(tmp_path / "repo")
    repo.root.mkdir()
    assert freshness.runbook_commit(repo) is None  # not a git checkout
    git = ["git", "-C", str(repo.root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo.root / "a.yml").write_text("a: 1\n")
    subprocess.run([*git, "add", "a.yml"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert freshness.runbook_commit(repo) == head.strip()
    (repo.root / "a.yml").write_text("a: 2\n")
    assert freshness.runbook_commit(repo) == f"{head.strip()}+dirty"


def test_the_real_payments_failover_files(
    repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRDRIVE_CACHE_DIR", str(tmp_path / "cache"))
    files = {
        p.relative_to(repo_root).as_posix()
        for p in freshness.runbook_files(Project(repo_root), "payments-failover")
    }
    assert "playbooks/payments-failover.yml" in files
    assert "roles/processor_failover/tasks/main.yml" in files
    assert "roles/processor_failover/meta/argument_specs.yml" in files
    assert f"{COLL}/modules/kill_switch.py" in files and f"{COLL}/action/kill_switch.py" in files
    assert f"{COLL}/module_utils/kill_switch.py" in files  # imported by the module
    assert f"{COLL}/strategy/safe_linear.py" in files  # ansible.cfg's strategy
    assert not [f for f in files if f.startswith(("roles/block_ips/", "playbooks/block-ips"))]


def test_an_unchanged_runbook_is_digested_from_the_cache(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from irdrive.runbookfiles import RunbookFiles

    before = freshness.files_digest(project, "fix")
    walks: list[str] = []
    walk = RunbookFiles._collect

    def counted(self: RunbookFiles, runbook: str) -> set[str]:
        walks.append(runbook)
        return walk(self, runbook)

    monkeypatch.setattr(RunbookFiles, "_collect", counted)
    assert freshness.files_digest(project, "fix") == before and walks == []
    with open(project.root / "roles/delta/defaults/main.yml", "a") as fh:
        fh.write("delta_y: 2\n")
    assert freshness.files_digest(project, "fix") != before and walks == ["fix"]
