"""Why ``changed`` of a no_log task is read from its outcome line: a real ansible-runner run.

ansible-core keeps ``changed`` in a censored result, but ansible-runner replaces the ``res`` of
every no_log event, looped or not, with ``{"censored": ...}``. If this test starts failing on
the first assertion, ansible-runner keeps the key now: ``irdrive.events.censored_changed``
already prefers it, and its text fallback can go.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from irdrive.events import EventCollector
from irdrive.report import RunReport

PLAYBOOK = """\
- name: No-log results
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Changes, no_log
      ansible.builtin.command: "true"
      changed_when: true
      no_log: true
    - name: Does not change, no_log
      ansible.builtin.command: "true"
      changed_when: false
      no_log: true
    - name: One item changes, no_log loop
      ansible.builtin.command: "echo {{ item }}"
      changed_when: item == 'b'
      loop: [a, b]
      no_log: true
    - name: No item changes, no_log loop
      ansible.builtin.command: "echo {{ item }}"
      changed_when: false
      loop: [a, b]
      no_log: true
"""


def run_playbook(tmp_path: Path) -> list[dict[str, Any]]:
    import ansible_runner

    playbook = tmp_path / "site.yml"
    playbook.write_text(PLAYBOOK)
    (tmp_path / "run").mkdir()
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "run"),
        playbook=str(playbook),
        inventory=f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}",
        # ansible-playbook beside this interpreter (make test does not activate the venv).
        envvars={
            "ANSIBLE_NOCOLOR": "1",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        },
        quiet=True,
    )
    assert result.status == "successful", result.stdout.read()
    return list(result.events)


def test_no_log_events_carry_no_changed_key_but_their_outcome_line_does(tmp_path: Path) -> None:
    events = run_playbook(tmp_path)
    finals = [e for e in events if e["event"] in ("runner_on_ok", "runner_item_on_ok")]
    assert finals
    for event in finals:
        assert set(event["event_data"]["res"]) == {"censored"}, event["event_data"]["res"]

    report = RunReport(runbook="no-log")
    collector = EventCollector(report)
    for event in events:
        collector.handle(event)
    assert {t.task: t.status for t in report.tasks} == {
        "Changes, no_log": "changed",
        "Does not change, no_log": "ok",
        "One item changes, no_log loop": "changed",
        "No item changes, no_log loop": "ok",
    }
    assert [c["task"] for c in report.changes] == [
        "Changes, no_log",
        "One item changes, no_log loop",
    ]
    assert all(c.get("censored") for c in report.changes)
