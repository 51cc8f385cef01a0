"""Modules and module_utils run on the host's Python: 3.9 and later (ansible-core 2.21 targets).

ansible-core runs the controller on 3.12+, but ships a module with its module_utils to the host
and runs it there on whatever Python the host (or the execution environment) has: RHEL 9 has
3.9, Debian 12 has 3.11.  Every file that travels to a host is parsed here as Python 3.9 parses
it, and walked for the standard-library names 3.9 lacks.  Controller-side plugins (action,
filter, strategy, plugin_utils) may use 3.12; `make sanity` compiles and imports them there.
"""

from __future__ import annotations

import ast
import glob
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COLLECTION = REPO / "collections/ansible_collections/irdrive/ops"
PACKAGE = "ansible_collections.irdrive.ops.plugins."
OLDEST = (3, 9)

#: (module, name) pairs that appeared after 3.9, with the version that brought them.
NEWER_NAMES: dict[tuple[str, str], str] = {
    ("datetime", "UTC"): "3.11",
    ("enum", "StrEnum"): "3.11",
    ("enum", "ReprEnum"): "3.11",
    ("enum", "verify"): "3.11",
    ("itertools", "batched"): "3.12",
    ("itertools", "pairwise"): "3.10",
    ("hashlib", "file_digest"): "3.11",
    ("contextlib", "chdir"): "3.11",
    ("contextlib", "aclosing"): "3.10",
    ("operator", "call"): "3.11",
    ("inspect", "get_annotations"): "3.10",
    ("types", "NoneType"): "3.10",
    ("types", "EllipsisType"): "3.10",
    ("types", "UnionType"): "3.10",
    ("re", "NOFLAG"): "3.11",
    ("logging", "getLevelNamesMapping"): "3.11",
    ("math", "cbrt"): "3.11",
    ("math", "exp2"): "3.11",
    ("sys", "orig_argv"): "3.10",
    ("sys", "stdlib_module_names"): "3.10",
    ("asyncio", "TaskGroup"): "3.11",
    ("asyncio", "timeout"): "3.11",
    ("typing", "TypeAlias"): "3.10",
    ("typing", "ParamSpec"): "3.10",
    ("typing", "Concatenate"): "3.10",
    ("typing", "TypeGuard"): "3.10",
    ("typing", "is_typeddict"): "3.10",
    ("typing", "Self"): "3.11",
    ("typing", "Never"): "3.11",
    ("typing", "LiteralString"): "3.11",
    ("typing", "Required"): "3.11",
    ("typing", "NotRequired"): "3.11",
    ("typing", "Unpack"): "3.11",
    ("typing", "TypeVarTuple"): "3.11",
    ("typing", "assert_never"): "3.11",
    ("typing", "assert_type"): "3.11",
    ("typing", "reveal_type"): "3.11",
    ("typing", "dataclass_transform"): "3.11",
    ("typing", "override"): "3.12",
    ("typing", "TypeAliasType"): "3.12",
    ("typing", "TypeIs"): "3.13",
    ("typing", "ReadOnly"): "3.13",
}
NEWER_MODULES = {"tomllib": "3.11", "graphlib": None, "zoneinfo": None}
NEWER_BUILTINS = {
    "aiter": "3.10",
    "anext": "3.10",
    "ExceptionGroup": "3.11",
    "BaseExceptionGroup": "3.11",
    "EncodingWarning": "3.10",
}
#: Keyword arguments that appeared after 3.9, on calls named like this (any receiver).
NEWER_KEYWORDS = {
    ("zip", "strict"): "3.10",
    ("dataclass", "slots"): "3.10",
    ("dataclass", "kw_only"): "3.10",
    ("dataclass", "match_args"): "3.10",
    ("dataclass", "weakref_slot"): "3.11",
    ("field", "kw_only"): "3.10",
    ("bisect_left", "key"): "3.10",
    ("bisect_right", "key"): "3.10",
    ("insort", "key"): "3.10",
}
NEWER_METHODS = {"bit_count": "3.10"}
#: Names that, as an operand of ``|``, make it a PEP 604 union evaluated at run time (3.10+).
TYPE_NAMES = {"bool", "bytes", "dict", "float", "frozenset", "int", "list", "memoryview"}
TYPE_NAMES |= {"object", "set", "str", "tuple", "type", "date", "datetime", "time", "Any"}


def _is_type_operand(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.Subscript):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_type_operand(node.left) or _is_type_operand(node.right)
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    # A class name (CamelCase, as ipaddress.IPv4Network), not a flag constant (re.IGNORECASE).
    return name in TYPE_NAMES or (name[:1].isupper() and not name.isupper())


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (a string under ``from __future__ import``)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        roots: list[ast.expr | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            roots = [node.returns, *(a.annotation for a in every if a is not None)]
        elif isinstance(node, ast.AnnAssign):
            roots = [node.annotation]
        for root in roots:
            if root is not None:
                inside.update(id(sub) for sub in ast.walk(root))
    return inside


def findings(source: str, filename: str = "<source>") -> list[str]:
    """What in ``source`` fails on Python 3.9: a syntax error, or a name 3.9 lacks."""
    try:
        tree = ast.parse(source, filename, feature_version=OLDEST)
    except SyntaxError as error:
        return [f"{filename}:{error.lineno}: does not parse on 3.9: {error.msg}"]
    found: list[str] = []
    future = any(
        isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        and n.names[0].name == "annotations"
        for n in tree.body
    )
    if not future:
        found.append(f"{filename}:1: no 'from __future__ import annotations' (3.9 evaluates them)")
    in_annotation = _annotation_nodes(tree)
    aliases: dict[str, str] = {}

    def add(node: ast.AST, what: str, since: str | None) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what} (Python {since})")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
                if NEWER_MODULES.get(alias.name):
                    add(node, f"import {alias.name}", NEWER_MODULES[alias.name])
        elif isinstance(node, ast.ImportFrom) and node.module:
            if NEWER_MODULES.get(node.module):
                add(node, f"from {node.module} import", NEWER_MODULES[node.module])
            for alias in node.names:
                since = NEWER_NAMES.get((node.module, alias.name))
                if since:
                    add(node, f"from {node.module} import {alias.name}", since)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            since = NEWER_NAMES.get((aliases.get(node.value.id, node.value.id), node.attr))
            if since:
                add(node, f"{node.value.id}.{node.attr}", since)
        if isinstance(node, ast.Attribute) and node.attr in NEWER_METHODS:
            add(node, f".{node.attr}()", NEWER_METHODS[node.attr])
        elif isinstance(node, ast.Name) and node.id in NEWER_BUILTINS:
            add(node, node.id, NEWER_BUILTINS[node.id])
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            for keyword in node.keywords:
                since = NEWER_KEYWORDS.get((name, keyword.arg or ""))
                if since:
                    add(node, f"{name}({keyword.arg}=...)", since)
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.BitOr)
            and id(node) not in in_annotation
            and (_is_type_operand(node.left) or _is_type_operand(node.right))
        ):
            add(node, f"'{ast.unparse(node)}' as a type at run time", "3.10")
    return found


def target_files() -> list[Path]:
    """The modules and every collection file they import, recursively (what goes to a host)."""
    todo = sorted((COLLECTION / "plugins/modules").glob("*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                parts = node.module[len(PACKAGE) :].split(".")
                base = COLLECTION / "plugins" / Path(*parts)
                todo.extend(p for p in (base.with_suffix(".py"),) if p.exists())
                todo.extend(
                    base / f"{a.name}.py" for a in node.names if (base / f"{a.name}.py").exists()
                )
    return sorted(seen)


TARGET = target_files()
MODULE_UTILS = sorted((COLLECTION / "plugins/module_utils").glob("*.py"))


def test_modules_import_only_module_utils_from_the_collection() -> None:
    controller_side = [p for p in TARGET if p.parent.name not in {"modules", "module_utils"}]
    assert controller_side == []
    assert len([p for p in TARGET if p.parent.name == "modules"]) >= 30


@pytest.mark.parametrize(
    "path",
    sorted(set(TARGET) | set(MODULE_UTILS)),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_target_side_file_runs_on_python_3_9(path: Path) -> None:
    assert findings(path.read_text(encoding="utf-8"), str(path.relative_to(COLLECTION))) == []


HEADER = "from __future__ import annotations\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def retry[T](call: T) -> T:\n    return call\n", "does not parse on 3.9"),
        ("class Waited[T]:\n    pass\n", "does not parse on 3.9"),
        ("match x:\n    case 1:\n        pass\n", "does not parse on 3.9"),
        ("try:\n    pass\nexcept* ValueError:\n    pass\n", "does not parse on 3.9"),
        ("from datetime import UTC, datetime\n", "from datetime import UTC (Python 3.11)"),
        ("import datetime as dt\nnow = dt.datetime.now(dt.UTC)\n", "dt.UTC (Python 3.11)"),
        ("import tomllib\n", "import tomllib (Python 3.11)"),
        ("from typing import Self\n", "from typing import Self (Python 3.11)"),
        ("import enum\nclass E(enum.StrEnum):\n    A = 'a'\n", "enum.StrEnum (Python 3.11)"),
        ("from itertools import batched\n", "from itertools import batched (Python 3.12)"),
        ("pairs = dict(zip(a, b, strict=True))\n", "zip(strict=...) (Python 3.10)"),
        ("@dataclass(slots=True)\nclass A:\n    x: int | None\n", "dataclass(slots=...)"),
        ("ok = isinstance(v, bool | int)\n", "'bool | int' as a type at run time (Python 3.10)"),
        ("Maybe = dict[str, int] | None\n", "as a type at run time"),
        ("import ipaddress as ip\nNet = ip.IPv4Network | ip.IPv6Network\n", "at run time"),
        ("raise ExceptionGroup('x', [])\n", "ExceptionGroup (Python 3.11)"),
        ("n = (5).bit_count()\n", ".bit_count() (Python 3.10)"),
    ],
)
def test_checker_finds_what_python_3_9_lacks(source: str, expected: str) -> None:
    found = findings(HEADER + source)
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(
    "source",
    [
        "def f(x: int | None = None) -> dict[str, int] | None:\n    return None\n",
        "@dataclass\nclass A:\n    x: int | None = None\n",
        "flags = a | b\nmask = 1 | 2\nmode = re.IGNORECASE | re.M\n",
        "Which = Callable[[str], 'str | None']\n",
        "from datetime import timezone\nutc = timezone.utc\n",
        "ok = isinstance(v, (bool, int))\n",
        "with (open(a) as f, open(b) as g):\n    pass\n",
    ],
)
def test_checker_passes_what_python_3_9_runs(source: str) -> None:
    assert findings(HEADER + source) == []


def test_checker_wants_postponed_annotations() -> None:
    assert "no 'from __future__ import annotations'" in findings("x = 1\n")[0]


def oldest_python() -> str | None:
    """A Python 3.9 on this machine (the distribution's, pyenv's, or on PATH), or None."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = ["/usr/bin/python3.9", *sorted(glob.glob(f"{pyenv}/versions/3.9*/bin/python3.9"))]
    found.append(shutil.which("python3.9") or "")
    return next((p for p in found if p and os.access(p, os.X_OK) and "shims" not in p), None)


class FlakyHealth(http.server.BaseHTTPRequestHandler):
    """503 on the first request, 200 with JSON after: the module's retry has to run."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        FlakyHealth.requests.append(self.path)
        status = 503 if len(FlakyHealth.requests) == 1 else 200
        body = json.dumps({"status": "ok" if status == 200 else "down"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_endpoint() -> Iterator[str]:
    FlakyHealth.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHealth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()


PLAYBOOK = """
- name: A module with retry.py, shipped by AnsiballZ to Python 3.9
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the endpoint (503 once, then 200)
      irdrive.ops.http_health:
        url: "{{ url }}"
        retries: 2
        backoff: {delay: 0.05, jitter: false}
      register: health

    - name: The retry ran on Python 3.9 and ended healthy
      ansible.builtin.assert:
        that:
          - health.healthy
          - health.status == 200
          - health.attempts == 2
"""


def test_module_with_retry_runs_on_python_3_9(tmp_path: Path, flaky_endpoint: str) -> None:
    """The module and its module_utils go to the host as AnsiballZ does it, to Python 3.9."""
    python39 = oldest_python()
    if python39 is None:
        pytest.skip("no Python 3.9 here (the parse check above still covers it)")
    # A wrapper that records each module start: proof the module ran on this interpreter.
    started = tmp_path / "started"
    interpreter = tmp_path / "python3.9"
    interpreter.write_text(f'#!/bin/sh\necho "$$" >> {started}\nexec {python39} "$@"\n')
    interpreter.chmod(0o755)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    extra = {
        "url": flaky_endpoint,
        "ansible_connection": "local",
        "ansible_python_interpreter": str(interpreter),
        "irdrive_in_process": False,  # ship the module instead of running it in the worker
    }
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            *("-i", "localhost,", "-e", json.dumps(extra), str(tmp_path / "play.yml")),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert len(started.read_text().split()) == 1
    assert FlakyHealth.requests == ["/health", "/health"]
