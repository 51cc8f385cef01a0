"""A task's tags from the ``task_path`` of its events: its own, and its blocks' and play's."""

from __future__ import annotations

from pathlib import Path

import pytest

from irdrive.tasktags import TagReader

ROLE_TASKS = """\
---
- name: Change something
  ansible.builtin.command: "true"

- name: Read it back
  ansible.builtin.assert: {that: [true]}
  tags: [verify, slow]

- name: Checks
  tags: verify
  block:
    - name: Inner check
      ansible.builtin.assert: {that: [true]}
    - name: Nested
      tags: [extra]
      block:
        - name: Deep check
          ansible.builtin.assert: {that: [true]}
  rescue:
    - name: Say it failed
      ansible.builtin.debug: {msg: failed}

- name: Comma string
  ansible.builtin.debug: {}
  tags: "a, verify"

- name: An !unsafe value does not stop the reader
  ansible.builtin.debug:
    msg: !unsafe "{{ raw }}"
"""

PLAYBOOK = """\
- name: Verify play
  hosts: localhost
  tags: [verify]
  tasks:
    - name: Probe
      ansible.builtin.uri: {url: "http://x"}
- name: Other play
  hosts: localhost
  pre_tasks:
    - name: Not tagged
      ansible.builtin.debug: {}
"""


@pytest.fixture
def role_tasks(tmp_path: Path) -> Path:
    path = tmp_path / "main.yml"
    path.write_text(ROLE_TASKS)
    return path


def line_of(path: Path, name: str) -> int:
    """The 1-based line of ``- name: NAME``: where Ansible's task_path points."""
    lines = path.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.strip() == f"- name: {name}")


@pytest.mark.parametrize(
    ("task", "tags"),
    [
        ("Change something", set()),
        ("Read it back", {"verify", "slow"}),
        ("Inner check", {"verify"}),
        ("Deep check", {"verify", "extra"}),
        ("Say it failed", {"verify"}),  # a rescue inherits the block's tags too
        ("Comma string", {"a", "verify"}),
        ("An !unsafe value does not stop the reader", set()),
    ],
)
def test_tags_are_the_tasks_and_its_blocks(role_tasks: Path, task: str, tags: set[str]) -> None:
    reader = TagReader()
    assert reader.tags(f"{role_tasks}:{line_of(role_tasks, task)}") == tags
    assert reader.is_verification(f"{role_tasks}:{line_of(role_tasks, task)}") == ("verify" in tags)


def test_a_play_tag_covers_its_tasks(tmp_path: Path) -> None:
    path = tmp_path / "site.yml"
    path.write_text(PLAYBOOK)
    reader = TagReader()
    assert reader.is_verification(f"{path}:{line_of(path, 'Probe')}")
    assert not reader.is_verification(f"{path}:{line_of(path, 'Not tagged')}")


@pytest.mark.parametrize(
    "task_path",
    [None, "", "no-line", "/no/such/file.yml:3", "relative.yml:x"],
)
def test_an_unknown_place_has_no_tags(task_path: str | None) -> None:
    assert TagReader().tags(task_path) == frozenset()


def test_a_line_that_starts_no_task_has_no_tags(role_tasks: Path) -> None:
    assert TagReader().tags(f"{role_tasks}:{line_of(role_tasks, 'Read it back') + 2}") == set()


def test_each_file_is_read_once(role_tasks: Path) -> None:
    reader = TagReader()
    path = f"{role_tasks}:{line_of(role_tasks, 'Read it back')}"
    assert reader.is_verification(path)
    role_tasks.write_text("- name: Read it back\n  ansible.builtin.debug: {}\n")
    assert reader.is_verification(path)  # cached: the run's files do not change under it


def test_a_file_that_is_not_yaml_has_no_tags(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("- name: x\n  tags: [verify\n")
    assert TagReader().tags(f"{path}:1") == frozenset()
