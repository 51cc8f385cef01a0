"""The runbook catalog: discovery, what each runbook is for, and its parameters' specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irdrive.catalog import Catalog
from irdrive.errors import EXIT_USAGE, UnknownRunbookError, UsageError
from irdrive.paths import Project, ProjectNotFound, find_project


@pytest.fixture
def catalog(project_dir: Path) -> Catalog:
    return Catalog(find_project())


def test_find_project_honours_irdrive_home(project_dir: Path) -> None:
    assert find_project().root == project_dir


def test_irdrive_home_without_playbooks_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRDRIVE_HOME", str(tmp_path))
    with pytest.raises(ProjectNotFound) as err:
        find_project()
    assert err.value.exit_code == EXIT_USAGE


def test_runbooks_are_the_playbooks(catalog: Catalog) -> None:
    assert catalog.names() == ["demo-failover", "health-check"]


def test_parameters_come_from_the_role_argument_spec(catalog: Catalog) -> None:
    rb = catalog.get("demo-failover")
    assert rb.roles == ["demo_failover"]
    assert rb.description == "Fail the demo service over to its backup."
    assert (rb.severity, rb.procedure) == ("P1", "P1 Demo Failure")
    assert rb.summary == "Fail the demo service over to its backup, verified."
    assert rb.changes == ["demo switch", "demo config"]
    assert rb.mutating
    assert list(rb.parameters) == [
        "reason",
        "service",
        "replicas",
        "force",
        "regions",
        "fail_now",
        "api_token",
        "demo_failover_window",
    ]
    reason = rb.parameters["reason"]
    assert reason.required and reason.type == "str"
    assert rb.parameters["service"].choices == ("payments", "streaming")
    assert rb.parameters["replicas"].default == 2
    assert rb.secrets == {"api_token"}
    # The option exactly as the role declares it: what the validator is given.
    assert rb.parameters["regions"].spec == {
        "type": "list",
        "elements": "str",
        "default": [],
        "description": "Regions to touch.",
    }


def test_import_role_in_tasks_and_read_only(catalog: Catalog) -> None:
    rb = catalog.get("health-check")
    assert rb.roles == ["health_probe"]
    assert rb.parameters == {}
    assert rb.read_only and not rb.mutating
    assert rb.description == "Health check"  # falls back to the play name
    assert (rb.severity, rb.procedure, rb.summary) == ("", "", "")  # declared by none


def test_role_vars_bound_by_the_playbook_are_not_parameters(project_dir: Path) -> None:
    (project_dir / "playbooks" / "bound.yml").write_text(
        "- hosts: all\n  roles:\n    - role: demo_failover\n      reason: fixed\n"
    )
    rb = Catalog(Project(project_dir)).get("bound")
    assert "reason" not in rb.parameters
    assert "service" in rb.parameters


def test_unknown_runbook_suggests_close_matches(catalog: Catalog) -> None:
    with pytest.raises(UnknownRunbookError, match="did you mean demo-failover"):
        catalog.get("demo-failvoer")
    with pytest.raises(UnknownRunbookError, match="known: demo-failover, health-check"):
        catalog.get("zzz")
    with pytest.raises(UnknownRunbookError):
        catalog.get("../playbooks/demo-failover")


def test_unreadable_runbook_is_listed_with_its_error(project_dir: Path) -> None:
    (project_dir / "playbooks" / "broken.yml").write_text("- hosts: all\n  roles: [no_such_role]\n")
    catalog = Catalog(Project(project_dir))
    listed = {rb.name: rb for rb in catalog.runbooks()}
    assert "no_such_role" in (listed["broken"].error or "")
    with pytest.raises(UsageError, match="cannot be read"):
        catalog.get("broken")


def test_the_catalog_reuses_parsed_yaml_until_a_file_changes(project_dir: Path) -> None:
    spec = project_dir / "roles" / "demo_failover" / "meta" / "argument_specs.yml"
    cache_file = project_dir.parent / "cache" / "yaml.json"
    first = {rb.name: rb for rb in Catalog(Project(project_dir)).runbooks()}
    entries = json.loads(cache_file.read_text())["entries"]
    assert str(spec.resolve()) in entries
    assert str((project_dir / "playbooks" / "demo-failover.yml").resolve()) in entries

    # A cached document is what the catalog uses while the file keeps its identity ...
    doc = entries[str(spec.resolve())]["doc"]
    doc["argument_specs"]["main"]["options"]["cached_only"] = {"type": "str"}
    cache_file.write_text(json.dumps({"version": 1, "entries": entries}))
    cached = Catalog(Project(project_dir)).get("demo-failover")
    assert "cached_only" in cached.parameters

    # ... and a file that changed is parsed again (its size differs, and so does its mtime).
    spec.write_text(spec.read_text() + "\n# edited\n")
    fresh = Catalog(Project(project_dir)).get("demo-failover")
    assert "cached_only" not in fresh.parameters
    assert set(fresh.parameters) == set(first["demo-failover"].parameters)


def test_an_unreadable_yaml_cache_is_ignored(project_dir: Path) -> None:
    cache_file = project_dir.parent / "cache" / "yaml.json"
    cache_file.parent.mkdir(parents=True)
    cache_file.write_text("{not json")
    names = [rb.name for rb in Catalog(Project(project_dir)).runbooks()]
    assert "demo-failover" in names
    assert json.loads(cache_file.read_text())["version"] == 1


def test_documents_json_would_change_are_not_cached(tmp_path: Path) -> None:
    from irdrive.catalog import load_yaml
    from irdrive.yamlcache import YamlCache

    odd = tmp_path / "odd.yml"
    odd.write_text("when: 2026-12-02\n1: int key\n")
    plain = tmp_path / "plain.yml"
    plain.write_text("a: [1, 2]\n")
    cache = YamlCache(tmp_path / "cache.json")
    assert cache.load(odd, load_yaml)[1] == "int key"
    assert cache.load(plain, load_yaml) == {"a": [1, 2]}
    cache.save()
    entries = json.loads((tmp_path / "cache.json").read_text())["entries"]
    assert list(entries) == [str(plain.resolve())]
