"""The files a runbook is made of, found the way Ansible would load them, without Ansible.

From ``playbooks/<runbook>.yml``:

- the playbooks it imports (``import_playbook``), task files it imports or includes by a
  literal path, and literal ``vars_files``;
- every role it uses (``roles:``, ``import_role``/``include_role`` in its tasks or in the
  tasks and handlers of a role it uses, and ``dependencies`` in a role's ``meta/main.yml``),
  transitively, each with all the files under its folder (tasks, defaults, templates, ...);
- the collection plugins named by FQCN (``irdrive.ops.X``) anywhere in those files, and in
  ``ansible.cfg`` (its strategy runs every runbook): ``plugins/modules/X.py`` and
  ``plugins/action/X.py`` for a module, the filter file that defines filter ``X``, any other
  plugin type's ``X.py``; then what those import from the collection (``module_utils``,
  ``plugin_utils``), transitively.

Role and file names built by Jinja cannot be followed and are left out. YAML is read through
the catalog's parse cache (``irdrive.yamlcache``). ``irdrive list`` digests every drilled
runbook, so what is found is cached in the cache folder: per runbook its files, digest and the
identity (size, mtime, inode) of every file and folder they were found from
(``runbook-files.json``); per file its sha256 and the plugin names in it (``file-scans.json``).
An entry is used only while all of those identities hold (a file added to a role changes its
folder's); anything changed in the last two seconds is not cached (``_racy``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from irdrive.catalog import ROLE_TASK_ACTIONS, load_yaml
from irdrive.errors import UnknownRunbookError
from irdrive.paths import Project, cache_dir
from irdrive.yamlcache import YamlCache

PLAYBOOK_IMPORTS = {"import_playbook", "ansible.builtin.import_playbook"}
TASK_FILE_ACTIONS = {
    f"{prefix}{verb}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for verb in ("import_tasks", "include_tasks")
}
TASK_LIST_KEYS = ("block", "rescue", "always")
PLAY_TASK_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")
# Plugin types (folders under plugins/) a bare FQCN can name, besides modules and filters.
OTHER_PLUGIN_DIRS = ("strategy", "lookup", "callback", "test", "inventory", "become", "connection")
SKIP_DIRS = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_IMPORT = re.compile(r"ansible_collections\.(\w+)\.(\w+)\.plugins\.(\w+)\.(\w+)")
SCAN_CACHE_VERSION = 1
RACY_NS = 2_000_000_000  # see _racy
RUNBOOKS_CACHE = "runbook-files.json"
FILES_CACHE = "file-scans.json"
_FILTER_NAME = re.compile(r"""["'](\w+)["']\s*:""")


def playbook_path(project: Project, runbook: str) -> Path:
    if "/" not in runbook and not runbook.startswith("."):
        for ext in (".yml", ".yaml"):
            path = project.playbooks_dir / f"{runbook}{ext}"
            if path.is_file():
                return path
    raise UnknownRunbookError(f"unknown runbook {runbook!r}")


def _literal(value: Any) -> str | None:
    """A path or name given as a plain string (not built by Jinja)."""
    if isinstance(value, dict):
        value = value.get("file") or value.get("name")
    if isinstance(value, str) and value.strip() and "{{" not in value and "{%" not in value:
        return value.strip()
    return None


class RunbookFiles:
    """Collects the files of runbooks of one project; reuse one for several runbooks."""

    def __init__(self, project: Project, cache: YamlCache | None = None) -> None:
        self.project = Project(project.root.resolve())
        self.cache = cache if cache is not None else YamlCache(cache_dir() / "yaml.json")
        self._collections = self._find_collections()
        self._plugins: dict[tuple[str, str], dict[str, list[Path]]] = {}
        # file -> (sha256 of its bytes, or None when missing; the collection files it names)
        self._memo: dict[str, tuple[bytes | None, tuple[str, ...]]] = {}
        self._found: set[str] = set()
        self._docs: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._deps: set[str] = set()  # folders and files the current runbook's files come from
        self._index_deps: set[str] = set()  # what the plugin indexes were built from
        self._resolved: dict[str, list[str]] = {}  # what a name in a file stands for
        self._prefixes = [f"{ns}.{coll}." for ns, coll in self._collections]
        pattern = "|".join(re.escape(p) for p in self._prefixes)
        self._fqcn = re.compile(rf"({pattern})(\w+)") if pattern else None

    def files(self, runbook: str) -> list[Path]:
        """The runbook's files, sorted, each once."""
        return [Path(p) for p in self._entry(runbook)["files"]]

    def digest(self, runbook: str) -> str:
        """sha256 (hex) over the path (relative to the project) and content of each file."""
        return str(self._entry(runbook)["digest"])

    def _entry(self, runbook: str) -> dict[str, Any]:
        """The runbook's files and digest: from the cache while every file and folder they
        were found from keeps its identity (a file added to a role changes its folder's)."""
        runbooks = self._cache_doc(RUNBOOKS_CACHE).setdefault("runbooks", {})
        hit = runbooks.get(runbook)
        deps = hit.get("deps") if isinstance(hit, dict) else None
        if isinstance(deps, dict) and all(_stat(path) == ident for path, ident in deps.items()):
            return hit  # type: ignore[no-any-return]
        import hashlib

        found = sorted(self._collect(runbook))
        total = hashlib.sha256()
        root = str(self.project.root) + os.sep
        for key in found:
            rel = key[len(root) :] if key.startswith(root) else key
            total.update(f"{rel}\0".encode())
            total.update(self._memo[key][0] or b"")
        deps = {path: _stat(path) for path in sorted(self._deps | self._index_deps | set(found))}
        entry = {"files": found, "digest": total.hexdigest(), "deps": deps}
        if not any(_racy(ident) for ident in deps.values()):
            runbooks[runbook] = entry
            self._dirty.add(RUNBOOKS_CACHE)
        return entry

    def _collect(self, runbook: str) -> set[str]:
        self._found = set()
        self._roles: set[str] = set()
        self._playbooks: set[Path] = set()
        self._deps = {
            os.path.normpath(p)
            for p in (self.project.playbooks_dir, self.project.roles_dir, self.project.ansible_cfg)
        }
        self._playbook(playbook_path(self.project, runbook))
        # Not counted itself (its other settings are the site's), but the collection plugins
        # it names (the strategy) run every runbook.
        cfg = os.path.normpath(self.project.ansible_cfg)
        memo = self._memo.get(cfg) or self._memo.setdefault(cfg, self._read(cfg))
        for ref in memo[1]:
            self._add_named(ref)
        return self._found

    def save(self) -> None:
        """Write the parse and scan caches if they changed (failures are ignored)."""
        self.cache.save()
        for name, doc in self._docs.items():
            if name in self._dirty:
                _write_json(self.cache.file.with_name(name), doc)
        self._dirty.clear()

    def _cache_doc(self, name: str) -> dict[str, Any]:
        """One of the scan caches, by file name: ``RUNBOOKS_CACHE`` (runbook -> its files,
        digest and what they were found from) and ``FILES_CACHE`` (file -> identity, sha256
        and the plugin names in it), read only when needed (the second on a cache miss)."""
        if name not in self._docs:
            try:
                data = json.loads(self.cache.file.with_name(name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            ok = isinstance(data, dict) and data.get("version") == SCAN_CACHE_VERSION
            self._docs[name] = data if ok else {"version": SCAN_CACHE_VERSION}
        return self._docs[name]

    # ---- YAML content ----------------------------------------------------------------
    def _yaml(self, path: Path) -> Any:
        try:
            return self.cache.load(path, load_yaml)
        except Exception:  # noqa: BLE001 - unreadable YAML still counts by its bytes
            return None

    def _add(self, path: Path | str) -> bool:
        """Count ``path`` in, and the plugins it names; False if already counted or missing."""
        key = os.path.normpath(path)
        if key in self._found:
            return False
        memo = self._memo.get(key)
        if memo is None:
            memo = self._memo[key] = self._read(key)
        if memo[0] is None:
            self._deps.add(os.path.dirname(key))  # its creation changes the folder
            return False
        self._found.add(key)
        for ref in memo[1]:
            self._add_named(ref)
        return True

    def _add_named(self, ref: str) -> None:
        """Count in what a file names: ``ns.coll.X`` (a plugin by FQCN) or
        ``ns.coll.KIND.X`` (an import of ``ansible_collections.ns.coll.plugins.KIND.X``)."""
        files = self._resolved.get(ref)
        if files is None:
            files = self._resolved[ref] = self._resolve(ref)
        for file in files:
            self._add(file)

    def _resolve(self, ref: str) -> list[str]:
        parts = ref.split(".")
        if (parts[0], parts[1]) not in self._collections:
            return []
        if len(parts) == 3:
            return [str(p) for p in self._plugin_index(parts[0], parts[1]).get(parts[2], ())]
        if len(parts) == 4:
            base = self._plugins_dir(parts[0], parts[1]) / parts[2]
            module = base / f"{parts[3]}.py"
            return [str(module if module.is_file() else base / parts[3] / "__init__.py")]
        return []

    def _read(self, key: str) -> tuple[bytes | None, tuple[str, ...]]:
        """The file's sha256 and what it names (see ``_add_named``); (None, ()) when missing.
        From the scan cache while the file keeps its size, mtime and inode."""
        scans = self._cache_doc(FILES_CACHE).setdefault("files", {})
        try:
            with open(key, "rb") as fh:
                ident = _identity(os.fstat(fh.fileno()))
                hit = scans.get(key)
                if isinstance(hit, list) and len(hit) == 3 and hit[0] == ident:
                    return bytes.fromhex(hit[1]), tuple(hit[2])
                data = fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None, ()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = ""  # a binary file counts by its bytes only
        refs = sorted({"".join(m) for m in self._fqcn.findall(text)}) if self._fqcn else []
        if key.endswith(".py") and "ansible_collections." in text:
            refs += sorted({".".join(m) for m in _IMPORT.findall(text)})
        from hashlib import sha256

        found = sha256(data).digest(), tuple(refs)
        if not _racy(ident):
            scans[key] = [ident, found[0].hex(), refs]
            self._dirty.add(FILES_CACHE)
        return found

    def _playbook(self, path: Path) -> None:
        path = Path(os.path.normpath(path))
        if path in self._playbooks or not path.is_file():
            return
        self._playbooks.add(path)
        self._add(path)
        plays = self._yaml(path)
        for play in plays if isinstance(plays, list) else []:
            if not isinstance(play, dict):
                continue
            for key in PLAYBOOK_IMPORTS & play.keys():
                target = _literal(play[key])
                if target:
                    self._playbook(path.parent / target)
            for entry in play.get("roles") or []:
                name = entry.get("role") or entry.get("name") if isinstance(entry, dict) else entry
                if isinstance(name, str):
                    self._role(name)
            for key in PLAY_TASK_KEYS:
                self._tasks(play.get(key), path.parent)
            files = play.get("vars_files") or []
            for item in files if isinstance(files, list) else [files]:
                target = _literal(item)
                if target:
                    self._add(path.parent / target)

    def _tasks(self, tasks: Any, base: Path) -> None:
        """Roles and task files named in a task list; ``base`` resolves relative task files."""
        for task in tasks if isinstance(tasks, list) else []:
            if not isinstance(task, dict):
                continue
            for key in TASK_LIST_KEYS:
                self._tasks(task.get(key), base)
            for action in ROLE_TASK_ACTIONS & task.keys():
                name = _literal(task[action])
                if name:
                    self._role(name)
            for action in TASK_FILE_ACTIONS & task.keys():
                target = _literal(task[action])
                path = Path(os.path.normpath(base / target)) if target else None
                if path is not None and self._add(path):
                    self._tasks(self._yaml(path), path.parent)

    def _role_dir(self, name: str) -> Path | None:
        candidates = [self.project.roles_dir / name]
        parts = name.split(".")
        if len(parts) == 3:
            ns, coll, short = parts
            collection = self.project.collections_dir / "ansible_collections" / ns / coll
            candidates.append(collection / "roles" / short)
        self._deps.update(os.path.normpath(c.parent) for c in candidates)
        return next((c for c in candidates if c.is_dir()), None)

    def _role(self, name: str) -> None:
        if name in self._roles:
            return
        self._roles.add(name)
        role_dir = self._role_dir(name)
        if role_dir is None:
            return
        for file in _walk(role_dir, self._deps):
            self._add(file)
        for sub in ("tasks", "handlers"):
            for path in sorted((role_dir / sub).rglob("*.y*ml")):
                self._tasks(self._yaml(path), path.parent)
        for meta in ("main.yml", "main.yaml"):
            meta_file = role_dir / "meta" / meta
            doc = self._yaml(meta_file) if meta_file.is_file() else None
            deps = doc.get("dependencies") if isinstance(doc, dict) else None
            for dep in deps if isinstance(deps, list) else []:
                dep_name = _literal(dep.get("role") if isinstance(dep, dict) else dep)
                if dep_name:
                    self._role(dep_name)

    # ---- collection plugins ---------------------------------------------------------
    def _find_collections(self) -> list[tuple[str, str]]:
        root = self.project.collections_dir / "ansible_collections"
        if not root.is_dir():
            return []
        return sorted(
            (ns.name, coll.name)
            for ns in root.iterdir()
            if ns.is_dir()
            for coll in ns.iterdir()
            if (coll / "plugins").is_dir()
        )

    def _plugins_dir(self, ns: str, coll: str) -> Path:
        return self.project.collections_dir / "ansible_collections" / ns / coll / "plugins"

    def _plugin_index(self, ns: str, coll: str) -> dict[str, list[Path]]:
        """Plugin name -> its files: ``modules/X.py`` and ``action/X.py`` for module X, the
        filter file defining filter X, ``<type>/X.py`` for the other plugin types."""
        if (ns, coll) not in self._plugins:
            plugins = self._plugins_dir(ns, coll)
            index: dict[str, list[Path]] = {}
            self._index_deps.add(os.path.normpath(plugins))
            for kind in ("modules", "action", *OTHER_PLUGIN_DIRS, "filter"):
                self._index_deps.add(os.path.normpath(plugins / kind))
            for kind in ("modules", "action", *OTHER_PLUGIN_DIRS):
                try:
                    names = sorted(os.listdir(plugins / kind))
                except OSError:
                    continue
                for file in names:
                    if file.endswith(".py") and file != "__init__.py":
                        index.setdefault(file[:-3], []).append(plugins / kind / file)
            for name, path in self._filter_index(plugins / "filter").items():
                index.setdefault(name, []).append(path)
                self._index_deps.add(os.path.normpath(path))
            self._plugins[(ns, coll)] = index
        return self._plugins[(ns, coll)]

    @staticmethod
    def _filter_index(folder: Path) -> dict[str, Path]:
        """Filter name -> the filter plugin file whose ``filters()`` returns it."""
        index: dict[str, Path] = {}
        for path in sorted(folder.glob("*.py")):
            text = path.read_text(encoding="utf-8", errors="replace")
            _, found, body = text.partition("def filters")
            for name in _FILTER_NAME.findall(body) if found else ():
                index.setdefault(name, path)
        return index


def _write_json(file: Path, doc: dict[str, Any]) -> None:
    """Replace ``file`` with ``doc`` atomically; a cache that cannot be written is skipped."""
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, file)
    except OSError:
        tmp.unlink(missing_ok=True)


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _racy(ident: list[int] | None) -> bool:
    """Whether a file or folder changed too recently to be cached by its identity: file
    systems stamp times at a coarse tick, so a second change within the tick could keep the
    same size and mtime (git's "racily clean" entries)."""
    return ident is not None and ident[1] > time.time_ns() - RACY_NS


def _stat(path: str) -> list[int] | None:
    try:
        return _identity(os.stat(path))
    except OSError:
        return None


def _walk(folder: Path | str, dirs: set[str]) -> Iterable[str]:
    """The files under ``folder``, sorted; the folders walked are added to ``dirs``."""
    dirs.add(os.path.normpath(folder))
    with os.scandir(folder) as entries:
        found = sorted(entries, key=lambda e: e.name)
    for entry in found:
        if entry.name.startswith(".") or entry.name in SKIP_DIRS:
            continue
        if entry.is_dir():
            yield from _walk(entry.path, dirs)
        elif not entry.name.endswith((".pyc", ".pyo")):
            yield entry.path
