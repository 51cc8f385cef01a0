"""The API modules' action plugins: in-process on the controller, or the module, same result.

One playbook, run through ansible-runner once in-process (the default on localhost) and once
with ``irdrive_in_process: false`` (AnsiballZ, a module process per task), each against a fresh
fake Kubernetes API and the same real PostgreSQL. Every task's result in the event stream is the
same both ways: a Kubernetes write in check mode with diff, for real, and again unchanged; a
refusal with its ``error_kind``; a read with a ``no_log`` password and a failed login. The API
sees the same writes, and the password and token appear in no event, even at -vvv.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from collection_fakes import (
    COLLECTIONS,
    TOKEN,
    FakeKubeApi,
    FakeKubeServer,
    deployment,
    kill_switch_configmap,
)
from pg_server import PASSWORD, login

PLAYBOOK = """
- name: The API modules both ways
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/irdrive.ops.k8s:
      host: "{{ kube_url }}"
      api_key: "{{ kube_token }}"
  tasks:
    - name: scale, check mode with diff
      irdrive.ops.scale:
        namespace: platform
        replicas: {backend: 4}
        wait: false
      check_mode: true
      diff: true

    - name: scale, for real with diff
      irdrive.ops.scale:
        namespace: platform
        replicas: {backend: 4}
        wait: false
      diff: true

    - name: scale, again
      irdrive.ops.scale:
        namespace: platform
        replicas: {backend: 4}
        wait: false

    - name: scale, an unknown deployment
      irdrive.ops.scale:
        namespace: platform
        replicas: {nothere: 1}
        wait: false
      ignore_errors: true

    - name: kill switch, check mode with diff
      irdrive.ops.kill_switch:
        name: payments
        state: disabled
        reason: both ways
        actor: pytest
        idempotency_key: run-1
      check_mode: true
      diff: true

    - name: pg_health with a no_log password
      irdrive.ops.pg_health:
        login_host: "{{ pg.login_host }}"
        login_port: "{{ pg.login_port }}"
        login_user: "{{ pg.login_user }}"
        login_password: "{{ pg.login_password }}"

    - name: pg_health with a wrong password
      irdrive.ops.pg_health:
        login_host: "{{ pg.login_host }}"
        login_port: "{{ pg.login_port }}"
        login_user: "{{ pg.login_user }}"
        login_password: "{{ pg.login_password }}-wrong"
      ignore_errors: true
"""

# Timings and server-generated values differ from run to run, whichever way the module ran.
VOLATILE = {"waited", "latency_ms", "at"}


def stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(item) for item in value]
    return value


def run_playbook(
    tmp_path: Path, kube: FakeKubeApi, pg: dict[str, Any], in_process: bool
) -> list[dict[str, Any]]:
    import ansible_runner

    folder = tmp_path / ("in-process" if in_process else "module")
    (folder / "run").mkdir(parents=True)
    playbook = folder / "site.yml"
    playbook.write_text(PLAYBOOK)
    result = ansible_runner.run(
        private_data_dir=str(folder / "run"),
        playbook=str(playbook),
        inventory=f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}",
        extravars={
            "kube_url": kube.url,
            "kube_token": TOKEN,
            "pg": login(pg),
            "irdrive_in_process": in_process,
        },
        envvars={
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_NOCOLOR": "1",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        },
        verbosity=3,
        quiet=True,
    )
    assert result.status == "successful", result.stdout.read()
    return list(result.events)


def results(events: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    """Task name -> (event, the result in it)."""
    found = {}
    for event in events:
        if event["event"] in ("runner_on_ok", "runner_on_failed"):
            data = event["event_data"]
            found[data["task"]] = (event["event"], stable(data["res"]))
    return found


@pytest.mark.slow
def test_a_result_is_the_same_in_process_and_as_a_module(
    tmp_path: Path, pg: dict[str, Any]
) -> None:
    runs, writes = {}, {}
    for in_process in (True, False):
        with FakeKubeServer(FakeKubeApi()) as kube:
            kube.add("configmaps", kill_switch_configmap())
            kube.add("deployments", deployment("backend", desired=2))
            runs[in_process] = run_playbook(tmp_path, kube, pg, in_process)
            writes[in_process] = [(r["method"], r["path"]) for r in kube.writes()]

    module_files = {
        in_process: [e for e in events if "Using module file" in e.get("stdout", "")]
        for in_process, events in runs.items()
    }
    assert module_files[True] == [], "in-process runs ship no module"
    assert len(module_files[False]) == 7, "every task ran its module"

    same, other = results(runs[True]), results(runs[False])
    assert len(same) == 7
    assert same.keys() == other.keys()
    for name, outcome in same.items():
        assert outcome == other[name], name
    assert writes[True] == writes[False] == [("PATCH", writes[True][0][1])]

    check, real, again = (
        same[f"scale, {name}"][1]
        for name in ("check mode with diff", "for real with diff", "again")
    )
    assert check["changed"] and check["diff"] == {
        "before": {"replicas": {"backend": 2}, "hpa": None},
        "after": {"replicas": {"backend": 4}, "hpa": None},
    }
    assert real["changed"] and real["before"] == check["before"]
    assert not again["changed"]
    refused = same["scale, an unknown deployment"]
    assert refused[0] == "runner_on_failed" and refused[1]["error_kind"] == "invalid_input"
    assert same["kill switch, check mode with diff"][1]["changed"]
    assert same["pg_health with a no_log password"][1]["healthy"]
    wrong = same["pg_health with a wrong password"]
    assert wrong[0] == "runner_on_failed" and wrong[1]["error_kind"]

    for events in runs.values():
        text = repr(events)
        assert PASSWORD not in text
        assert TOKEN not in text
