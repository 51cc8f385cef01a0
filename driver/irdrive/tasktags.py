"""The tags a task declares, found from the ``task_path`` ansible-runner puts on its events.

ansible-runner's events carry no tags, but every task event carries ``task_path``
(``/abs/file.yml:LINE``, the line where the task's mapping starts). The YAML at that path is
composed (not constructed: Ansible's ``!vault``/``!unsafe`` tags do not matter), the task
mapping starting at that line is found, and its tags are the union of its own ``tags:`` and
those of every mapping enclosing it in the same file: the ``block:``/``rescue:``/``always:``
blocks around it and, in a playbook, its play. Files are read once per reader.

What is not seen: tags given where the file is included or imported from (``roles:`` entries,
``import_role``, ``import_tasks``, ``include_*``): they live in another file. A task is a
verification when it, or a block around it in its own file, has the tag ``verify``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

VERIFY_TAG = "verify"
# Keys whose list holds tasks (or blocks) that inherit the enclosing mapping's tags.
TASK_LIST_KEYS = ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers")


class TagReader:
    """Effective tags of tasks by ``task_path``, reading each file once."""

    def __init__(self) -> None:
        self._files: dict[str, dict[int, frozenset[str]]] = {}

    def tags(self, task_path: str | None) -> frozenset[str]:
        """The tags of the task at ``task_path`` (``file:line``); empty when unknown."""
        if not task_path:
            return frozenset()
        file, sep, line = str(task_path).rpartition(":")
        if not sep or not line.isdigit():
            return frozenset()
        if file not in self._files:
            self._files[file] = _index(Path(file))
        return self._files[file].get(int(line), frozenset())

    def is_verification(self, task_path: str | None) -> bool:
        return VERIFY_TAG in self.tags(task_path)


def _index(path: Path) -> dict[int, frozenset[str]]:
    """Line (1-based) of each task-like mapping in ``path`` -> its effective tags."""
    try:
        with open(path, encoding="utf-8") as fh:
            # libyaml's parser where PyYAML has it: four times faster, the same nodes and marks.
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            documents = list(yaml.compose_all(fh, Loader=loader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    index: dict[int, frozenset[str]] = {}
    for document in documents:
        if isinstance(document, yaml.SequenceNode):
            _visit_list(document, frozenset(), index)
    return index


def _visit_list(
    node: yaml.SequenceNode, inherited: frozenset[str], index: dict[int, frozenset[str]]
) -> None:
    for item in node.value:
        if not isinstance(item, yaml.MappingNode):
            continue
        tags = inherited | _own_tags(item)
        index.setdefault(item.start_mark.line + 1, tags)
        for key, value in item.value:
            if (
                isinstance(key, yaml.ScalarNode)
                and key.value in TASK_LIST_KEYS
                and isinstance(value, yaml.SequenceNode)
            ):
                _visit_list(value, tags, index)


def _own_tags(mapping: yaml.MappingNode) -> frozenset[str]:
    """The ``tags:`` of one mapping, as Ansible reads them: a list, or a comma-separated string."""
    for key, value in mapping.value:
        if not (isinstance(key, yaml.ScalarNode) and key.value == "tags"):
            continue
        if isinstance(value, yaml.ScalarNode):
            return frozenset(t.strip() for t in str(value.value).split(",") if t.strip())
        if isinstance(value, yaml.SequenceNode):
            return frozenset(
                str(v.value).strip() for v in value.value if isinstance(v, yaml.ScalarNode)
            )
    return frozenset()
