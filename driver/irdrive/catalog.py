"""The runbook catalog: one runbook per ``playbooks/<name>.yml``, parameters from role specs.

A runbook's parameters are declared once, in ``roles/<role>/meta/argument_specs.yml`` (entry
point ``main``) of the roles its first play uses (``roles:``, ``import_role``/``include_role``).
What it is for and what it changes come from the play's ``vars: irdrive_runbook:``::

    - name: Payments failover
      hosts: localhost
      vars:
        irdrive_runbook:
          severity: P1
          procedure: P1 Payment System Failure
          summary: Fail payments over to the backup processor, verified.
          description: Fail payments over to the backup processor.
          changes: [kill switch "payments", configmap payment-config, payment-service rollout]
      roles:
        - processor_failover

Where it sits in the incident playbook (``severity``, ``procedure``, a one-line ``summary``)
comes from the same mapping and makes ``irdrive list`` a catalog a responder can scan. Values
given for the parameters are checked by ``irdrive.params``.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irdrive.errors import UnknownRunbookError, UsageError
from irdrive.paths import Project, cache_dir
from irdrive.yamlcache import YamlCache

META_KEY = "irdrive_runbook"
ROLE_TASK_ACTIONS = {
    "import_role",
    "include_role",
    "ansible.builtin.import_role",
    "ansible.builtin.include_role",
    "ansible.legacy.import_role",
    "ansible.legacy.include_role",
}
# Keys of a ``roles:`` entry that are keywords, not role variables.
ROLE_ENTRY_KEYWORDS = {"role", "name", "tags", "when", "vars", "become", "delegate_to", "apply"}
SECRET_MASK = "********"


class YamlParseError(ValueError):
    """A playbook or argument spec that is not valid YAML."""


@functools.cache
def _tolerant_loader() -> type:
    """A SafeLoader that reads Ansible tags (``!vault``, ``!unsafe``) as plain values.

    libyaml's parser when PyYAML has it: the pure-Python one spends about 0.4 s on the catalog.
    Built on first use, so commands that read no YAML do not import it.
    """
    import yaml

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)  # type: ignore[arg-type]

    loader: Any = type("TolerantLoader", (base,), {})
    loader.add_multi_constructor("!", any_tag)
    return loader


def load_yaml(path: Path) -> Any:
    """Parse a YAML file (Ansible tags read as plain values); yaml.YAMLError when invalid."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_tolerant_loader())  # noqa: S506 - a SafeLoader subclass


def _parse_content(path: Path) -> Any:
    import yaml

    try:
        return load_yaml(path)
    except yaml.YAMLError as exc:
        raise YamlParseError(str(exc)) from exc


@dataclass(frozen=True)
class Parameter:
    """One runbook parameter, from a role's argument spec option."""

    name: str
    type: str = "str"
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    description: str = ""
    no_log: bool = False
    elements: str | None = None
    role: str = ""
    # The option as the role declares it: what irdrive.params hands to ArgumentSpecValidator.
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any], role: str) -> Parameter:
        desc = spec.get("description", "")
        if isinstance(desc, list):
            desc = " ".join(str(d) for d in desc)
        return cls(
            name=name,
            type=str(spec.get("type", "str")),
            required=bool(spec.get("required", False)),
            default=spec.get("default"),
            choices=tuple(spec.get("choices") or ()),
            description=str(desc).strip(),
            no_log=bool(spec.get("no_log", False)),
            elements=spec.get("elements"),
            role=role,
            spec=dict(spec),
        )

    @property
    def alias(self) -> str | None:
        """The name without its role prefix (``reason`` for ``processor_failover_reason``)."""
        prefix = f"{self.role}_"
        if self.role and self.name.startswith(prefix) and len(self.name) > len(prefix):
            return self.name[len(prefix) :]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "type": self.type,
            "required": self.required,
            "default": SECRET_MASK if self.no_log and self.default is not None else self.default,
            "choices": list(self.choices),
            "description": self.description,
            "secret": self.no_log,
            "role": self.role,
        }


@dataclass
class Runbook:
    """A playbook a responder runs, with its declared parameters."""

    name: str
    path: Path
    description: str = ""
    severity: str = ""  # P0..P3 of the incident playbook; "" for a building block
    procedure: str = ""  # the playbook procedure, section or script it implements
    summary: str = ""  # one short sentence for `irdrive list`
    roles: list[str] = field(default_factory=list)
    parameters: dict[str, Parameter] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    read_only: bool = False
    # Needs a person's yes before it runs: an alert only opens an approval, and an AWX launch
    # asks for a typed confirmation (irdrive_runbook.destructive; absent means false).
    destructive: bool = False
    error: str | None = None
    deadline: float = 900.0  # seconds for the whole run (irdrive_runbook.deadline)

    @property
    def mutating(self) -> bool:
        """Whether the runbook changes things (and so asks before a real run)."""
        return not self.read_only

    @property
    def secrets(self) -> set[str]:
        return {p.name for p in self.parameters.values() if p.no_log}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "description": self.description,
            "severity": self.severity,
            "procedure": self.procedure,
            "summary": self.summary,
            "roles": self.roles,
            "parameters": [p.to_dict() for p in self.parameters.values()],
            "changes": self.changes,
            "read_only": self.read_only,
            "destructive": self.destructive,
            "deadline": self.deadline,
            "error": self.error,
        }


class Catalog:
    """The runbooks of one project."""

    def __init__(self, project: Project, cache: YamlCache | None = None) -> None:
        self.project = project
        self.cache = cache if cache is not None else YamlCache(cache_dir() / "yaml.json")

    def _yaml(self, path: Path) -> Any:
        return self.cache.load(path, _parse_content)

    def names(self) -> list[str]:
        if not self.project.playbooks_dir.is_dir():
            return []
        found = {
            p.stem
            for pattern in ("*.yml", "*.yaml")
            for p in self.project.playbooks_dir.glob(pattern)
            if not p.name.startswith((".", "_"))
        }
        return sorted(found)

    def runbooks(self) -> list[Runbook]:
        found = [self._get(name, strict=False) for name in self.names()]
        self.cache.save()
        return found

    def get(self, name: str, strict: bool = True) -> Runbook:
        """The runbook ``name``; unknown names raise UnknownRunbookError with close matches.

        With ``strict`` a runbook whose playbook or specs cannot be read raises UsageError;
        without it the problem is kept in ``Runbook.error`` (for ``irdrive list``).
        """
        try:
            return self._get(name, strict)
        finally:
            self.cache.save()

    def _get(self, name: str, strict: bool) -> Runbook:
        path = self._playbook_path(name)
        if path is None:
            names = self.names()
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = f" (known: {', '.join(names)})" if names and not close else ""
            raise UnknownRunbookError(f"unknown runbook {name!r}{hint}{known}")
        runbook = Runbook(name=name, path=path)
        try:
            self._load(runbook)
        except (OSError, ValueError) as exc:
            if strict:
                raise UsageError(f"runbook {name!r} cannot be read: {exc}") from exc
            runbook.error = str(exc).splitlines()[0]
        return runbook

    # ---- loading --------------------------------------------------------------------
    def _playbook_path(self, name: str) -> Path | None:
        if "/" in name or name.startswith("."):
            return None
        for ext in (".yml", ".yaml"):
            path = self.project.playbooks_dir / f"{name}{ext}"
            if path.is_file():
                return path
        return None

    def _load(self, runbook: Runbook) -> None:
        plays = self._yaml(runbook.path)
        if not isinstance(plays, list) or not plays or not isinstance(plays[0], dict):
            raise ValueError(f"{runbook.path.name} is not a list of plays")
        play = plays[0]
        meta = (play.get("vars") or {}).get(META_KEY) or {}
        if not isinstance(meta, dict):
            raise ValueError(f"vars.{META_KEY} in {runbook.path.name} must be a mapping")
        roles, bound = _play_roles(play)
        if meta.get("role") and meta["role"] not in roles:
            roles.insert(0, str(meta["role"]))
        runbook.roles = roles
        short = ""
        for role in roles:
            spec = self._role_spec(role)
            if not short:
                short = str(spec.get("short_description") or "").strip()
            for opt_name, opt in (spec.get("options") or {}).items():
                if opt_name in bound or opt_name in runbook.parameters:
                    continue
                if not isinstance(opt, dict):
                    raise ValueError(f"role {role}: option {opt_name} must be a mapping")
                runbook.parameters[opt_name] = Parameter.from_spec(opt_name, opt, role)
        runbook.description = str(meta.get("description") or short or play.get("name") or "")
        runbook.description = runbook.description.strip()
        runbook.severity = str(meta.get("severity") or "").strip()
        runbook.procedure = str(meta.get("procedure") or "").strip()
        runbook.summary = " ".join(str(meta.get("summary") or "").split())
        changes = meta.get("changes") or []
        runbook.changes = [str(c) for c in changes] if isinstance(changes, list) else [str(changes)]
        runbook.read_only = bool(meta.get("read_only", False))
        destructive = meta.get("destructive", False)
        if not isinstance(destructive, bool):
            raise ValueError(
                f"vars.{META_KEY}.destructive in {runbook.path.name} must be true or false"
            )
        runbook.destructive = destructive
        if meta.get("deadline") is not None:
            runbook.deadline = float(meta["deadline"])

    def _role_dir(self, role: str) -> Path | None:
        parts = role.split(".")
        candidates = [self.project.roles_dir / role]
        if len(parts) == 3:
            ns, coll, name = parts
            candidates.append(
                self.project.collections_dir / "ansible_collections" / ns / coll / "roles" / name
            )
        for path in candidates:
            if path.is_dir():
                return path
        return None

    def _role_spec(self, role: str) -> dict[str, Any]:
        role_dir = self._role_dir(role)
        if role_dir is None:
            raise ValueError(f"role {role!r} not found under roles/ or collections/")
        for ext in ("yml", "yaml"):
            spec_file = role_dir / "meta" / f"argument_specs.{ext}"
            if spec_file.is_file():
                specs = self._yaml(spec_file) or {}
                entry = (specs.get("argument_specs") or {}).get("main") or {}
                if not isinstance(entry, dict):
                    raise ValueError(f"{spec_file}: argument_specs.main must be a mapping")
                return entry
        return {}


def _play_roles(play: dict[str, Any]) -> tuple[list[str], set[str]]:
    """Role names the play uses, in order, and the role variables the play sets itself."""
    roles: list[str] = []
    bound: set[str] = set()
    for entry in play.get("roles") or []:
        if isinstance(entry, str):
            roles.append(entry)
        elif isinstance(entry, dict):
            name = entry.get("role") or entry.get("name")
            if name:
                roles.append(str(name))
            bound.update(k for k in entry if k not in ROLE_ENTRY_KEYWORDS)
            bound.update((entry.get("vars") or {}).keys())
    for section in ("pre_tasks", "tasks", "post_tasks"):
        _task_roles(play.get(section) or [], roles, bound)
    return list(dict.fromkeys(roles)), bound


def _task_roles(tasks: list[Any], roles: list[str], bound: set[str]) -> None:
    for task in tasks:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            if isinstance(task.get(key), list):
                _task_roles(task[key], roles, bound)
        for action in ROLE_TASK_ACTIONS & task.keys():
            args = task[action]
            name = args.get("name") if isinstance(args, dict) else args
            if name:
                roles.append(str(name))
                bound.update((task.get("vars") or {}).keys())
