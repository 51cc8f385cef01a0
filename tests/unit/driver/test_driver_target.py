"""The target is explicit and named: an inventory that does not load is exit 2 (never a
fallback to an implicit localhost and ~/.kube/config), a lab that is not up is exit 3 (never a
fresh one), and the first line names the inventories or lab and the cluster server."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from click.testing import CliRunner

from irdrive import labsite, session, targets
from irdrive.cli import cli
from irdrive.paths import Project, find_project
from irdrive.runner import RunRequest, ansible_env

REPO = Path(__file__).resolve().parents[3]
KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: {context}
clusters:
- name: prod-eu
  cluster: {{server: "https://prod-eu.example:6443"}}
- name: staging
  cluster: {{server: "https://staging.example:6443"}}
contexts:
- name: prod
  context: {{cluster: prod-eu, user: oncall}}
- name: stage
  context: {{cluster: staging, user: oncall}}
users:
- name: oncall
  user: {{token: not-read}}
"""


@pytest.fixture(autouse=True)
def no_kubeconfig_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*targets.KUBECONFIG_ENV, "K8S_AUTH_CONTEXT"):
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str, input: str | None = None):  # noqa: A002 - click's name
    return CliRunner().invoke(cli, list(args), input=input)


def kubeconfig(tmp_path: Path, context: str = "prod") -> Path:
    path = tmp_path / "kube" / "config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(KUBECONFIG.format(context=context))
    return path


def inventory(tmp_path: Path, hosts: str, all_vars: str | None = None) -> Path:
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "hosts").write_text(hosts)
    if all_vars is not None:
        (folder / "group_vars").mkdir()
        (folder / "group_vars" / "all.yml").write_text(all_vars)
    return folder


def one_line_refusal(args: tuple[str, ...], state_dir: Path, code: int) -> str:
    result = invoke("run", "demo-failover", "-e", "reason=x", "--yes", *args)
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert not state_dir.exists()  # no run folder: nothing started
    return lines[0]


# ---- an inventory that does not load ---------------------------------------------------
def test_a_folder_that_is_not_an_inventory_is_exit_2(
    project_dir: Path, state_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("# not an inventory\n")
    line = one_line_refusal(("-i", str(folder)), state_dir, 2)
    assert line == (
        f"Error: inventory {folder} could not be loaded: no inventory plugin could parse it"
    )


def test_an_inventory_with_broken_yaml_says_why(
    project_dir: Path, state_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "hosts.yml"
    broken.write_text("all: {hosts: [\n")
    line = one_line_refusal(("-i", str(broken)), state_dir, 2)
    assert line.startswith(f"Error: inventory {broken} could not be loaded: Failed to parse")
    assert "YAML" in line


def test_an_inventory_with_no_hosts_is_exit_2(
    project_dir: Path, state_dir: Path, tmp_path: Path
) -> None:
    empty = inventory(tmp_path, "[web]\n\n[db]\n")
    line = one_line_refusal(("-i", str(empty)), state_dir, 2)
    assert line == f"Error: inventory {empty} has no hosts"


def test_one_bad_inventory_among_good_ones_is_refused(
    project_dir: Path, state_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "empty-folder"
    folder.mkdir()
    line = one_line_refusal(("-i", "local", "-i", str(folder)), state_dir, 2)
    assert line.startswith(f"Error: inventory {folder} could not be loaded")


def test_ansible_itself_fails_on_an_unparsed_inventory() -> None:
    """The driver's preflight aside, ansible-playbook is told to fail too, and so are plain
    ansible-playbook and AWX through the project's ansible.cfg."""
    project = Project(REPO)
    env = ansible_env(RunRequest("x", REPO / "x.yml", project, []))
    assert env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] == "true"
    config = configparser.ConfigParser()
    config.read(REPO / "ansible.cfg")
    assert config.getboolean("inventory", "inventory_unparsed_failed") is True


def test_the_lab_inventory_loads_with_hosts() -> None:
    facts = targets.check_inventory(REPO / "inventories" / "lab")
    assert facts.hosts >= 1
    assert facts.kubeconfig is not None and "{{" in facts.kubeconfig  # a template


def test_a_templated_kubeconfig_is_named_as_written_not_read(tmp_path: Path) -> None:
    """Never the environment's instead: the run uses the inventory's, once templated."""
    facts = [targets.InventoryFacts(tmp_path, 1, "{{ inventory_dir }}/kubeconfig")]
    detail = targets.describe_inventories(facts, {"KUBECONFIG": "/home/me/.kube/config"})
    assert detail == (
        f"{tmp_path}; kubeconfig {{{{ inventory_dir }}}}/kubeconfig:"
        " a template, resolved when the run starts"
    )


# ---- the first line names the target ---------------------------------------------------
def test_the_inventory_kubeconfig_is_named_by_context_and_server(
    project_dir: Path, state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = kubeconfig(tmp_path)
    folder = inventory(
        tmp_path,
        "localhost ansible_connection=local\n",
        f"irdrive_kubeconfig: {config}\n",
    )
    monkeypatch.setattr(session, "stdin_is_interactive", lambda: True)
    result = invoke("run", "demo-failover", "-e", "reason=x", "-i", str(folder), input="n\n")
    assert result.exit_code == 2  # declined: nothing ran
    assert result.output.splitlines()[0] == (
        f"Target: inventory ({folder}; kubeconfig {config}, context prod,"
        " server https://prod-eu.example:6443)"
    )
    assert not state_dir.exists()


@pytest.mark.parametrize("variable", targets.KUBECONFIG_ENV)
def test_a_kubeconfig_from_the_environment_is_named(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    config = kubeconfig(tmp_path, context="stage")
    monkeypatch.setenv(variable, str(config))
    target = session.choose_target(find_project(), ("local",))
    assert target.detail.endswith(
        f"; kubeconfig {config}, context stage, server https://staging.example:6443"
    )


def test_the_context_env_overrides_the_current_context(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path, context="stage")
    facts = [targets.InventoryFacts(tmp_path, 1, str(config))]
    detail = targets.describe_inventories(facts, {"K8S_AUTH_CONTEXT": "prod"})
    assert detail.endswith("context prod, server https://prod-eu.example:6443")


def test_a_missing_kubeconfig_is_named_as_such(tmp_path: Path) -> None:
    facts = [targets.InventoryFacts(tmp_path, 1, str(tmp_path / "nope"))]
    detail = targets.describe_inventories(facts, {})
    assert (
        detail
        == f"{tmp_path}; kubeconfig {tmp_path / 'nope'}: cannot be read (No such file or directory)"
    )


def test_the_lab_is_named_by_folder_and_api_server(
    project_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab_dir = project_dir.parent / "lab"
    lab_dir.mkdir()
    (lab_dir / "kubeconfig").write_text(
        KUBECONFIG.format(context="prod").replace("prod-eu.example:6443", "127.0.0.1:18001")
    )
    monkeypatch.setattr(labsite, "is_up", lambda lab_dir=None: True)
    monkeypatch.setattr(session, "stdin_is_interactive", lambda: True)
    result = invoke("run", "demo-failover", "-e", "reason=x", input="n\n")
    assert result.exit_code == 2  # declined: nothing ran
    assert result.output.splitlines()[0] == (
        f"Target: lab ({lab_dir}; Kubernetes API https://127.0.0.1:18001)"
    )


# ---- a lab that is not up, a bad lab setting -------------------------------------------
def test_a_lab_that_is_not_up_is_refused_not_started(project_dir: Path, state_dir: Path) -> None:
    line = one_line_refusal((), state_dir, 3)
    lab_dir = project_dir.parent / "lab"
    assert line == f"Error: the lab at {lab_dir} is not up: start it with `irdrive lab up`"
    assert not lab_dir.exists()  # not started: starting one creates its folder


def test_check_mode_against_a_lab_that_is_not_up_is_refused_too(
    project_dir: Path, state_dir: Path
) -> None:
    line = one_line_refusal(("--check",), state_dir, 3)
    assert line.endswith("is not up: start it with `irdrive lab up`")


@pytest.mark.parametrize(
    "args",
    [("lab", "status"), ("run", "demo-failover", "-e", "reason=x", "--yes")],
)
def test_a_bad_lab_port_base_is_one_line_and_exit_2(
    project_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("IRDRIVE_LAB_PORT_BASE", "abc")
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "Error: IRDRIVE_LAB_PORT_BASE must be a port number, not 'abc'"
    ]
    assert not state_dir.exists()
