"""The modules as ansible-playbook runs them (AnsiballZ, collection loader), on localhost.

Check mode writes nothing, the real run writes once, the re-run reports changed=0, and the API
token never shows up in the output, even at -vvv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from collection_fakes import (
    COLLECTIONS,
    TOKEN,
    FakeKubeApi,
    deployment,
    kill_switch_configmap,
    pod,
)

PLAYBOOK = """
- name: Drill the irdrive.ops modules
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/irdrive.ops.k8s:
      host: "{{ kube_url }}"
      api_key: "{{ kube_token }}"
  tasks:
    - name: Disable payments
      irdrive.ops.kill_switch:
        name: payments
        state: disabled
        reason: playbook test
        actor: pytest
        idempotency_key: run-1
      register: switch

    - name: The prior state is returned, and the state after (would be) disabled
      ansible.builtin.assert:
        that:
          - switch.switches.payments == 'disabled'
          - switch.changed == (switch.before.payments == 'enabled')

    - name: Workloads are healthy
      irdrive.ops.k8s_workload_health:
        namespace: platform

    - name: Probe an endpoint that is not there, without failing
      irdrive.ops.http_health:
        url: "{{ dead_url }}"
        retries: 0
        fail_on_unhealthy: false
        bearer_token: "{{ kube_token }}"
      register: probe

    - name: The probe reports unreachable
      ansible.builtin.assert:
        that:
          - not probe.healthy
          - probe.error_kind == 'unreachable'
"""


def run_playbook(tmp_path: Path, kube: FakeKubeApi, dead_url: str, *extra: str) -> str:
    playbook = tmp_path / "drill.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
    )
    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "ansible-playbook"),
        str(playbook),
        "-e",
        f"kube_url={kube.url} kube_token={TOKEN} dead_url={dead_url}",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        *extra,
    ]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def changed_count(output: str) -> int:
    match = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", output)
    assert match, output
    return int(match.group(1))


@pytest.mark.slow
def test_check_real_and_rerun(tmp_path: Path, kube: FakeKubeApi) -> None:
    kube.add("configmaps", kill_switch_configmap())
    kube.add("deployments", deployment("backend"))
    kube.add("pods", pod("backend-1", "backend"))
    kube.add("pods", pod("backend-2", "backend"))
    dead_url = "http://127.0.0.1:9/health"

    checked = run_playbook(tmp_path, kube, dead_url, "--check", "--diff")
    assert changed_count(checked) == 1
    assert kube.writes() == []

    real = run_playbook(tmp_path, kube, dead_url, "-vvv")
    assert changed_count(real) == 1
    assert len(kube.writes()) == 1
    assert kube.get("configmaps", "platform", "kill-switches")["data"]["payments"] == "disabled"
    assert TOKEN not in real

    again = run_playbook(tmp_path, kube, dead_url)
    assert changed_count(again) == 0
    assert len(kube.writes()) == 1
