"""The lab's import layering: no import circles, the lab never imports the driver, and the
driver reaches the lab only through ``irdrive lab`` (commands/lab.py) and ``labsite``.

Imports are read with ``ast``, so imports inside functions (the lazy ones) count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LAB_ROOT = REPO / "lab"
DRIVER_ROOT = REPO / "driver"
# The only driver modules that may import irdrive_lab.
LAB_GATEWAYS = {"irdrive.commands.lab", "irdrive.labsite"}


def _modules(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imported(name: str, path: Path, modules: Iterable[str] = ()) -> set[str]:
    """Every module ``path`` imports: ``from pkg import x`` gives ``pkg.x`` when that is one
    of ``modules``, else ``pkg`` (the package, or the module that defines ``x``)."""
    known = set(modules)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return out


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    return {
        name: {o for o in _imported(name, path, modules) if o in modules and o != name}
        for name, path in modules.items()
    }


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_find_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert sorted(find_cycles(graph)) == expected


def test_imports_are_read_from_functions_and_relative_forms(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import a\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from ..b import thing\n")
    (pkg / "b.py").write_text("import pkg.sub.a\n")
    graph = _graph(_modules(tmp_path, "pkg"))
    assert graph["pkg.sub"] == {"pkg.sub.a"}
    assert graph["pkg.sub.a"] == {"pkg.b"}
    assert find_cycles(graph) == [["pkg.b", "pkg.sub.a"]]


def test_the_lab_has_no_import_cycles() -> None:
    modules = _modules(LAB_ROOT, "irdrive_lab")
    assert "irdrive_lab.control.manager" in modules  # the walk found the lab
    assert find_cycles(_graph(modules)) == []


def test_the_lab_never_imports_the_driver() -> None:
    offenders = {
        name: sorted(i for i in _imported(name, path) if i.split(".")[0] == "irdrive")
        for name, path in _modules(LAB_ROOT, "irdrive_lab").items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_driver_has_no_import_cycles() -> None:
    assert find_cycles(_graph(_modules(DRIVER_ROOT, "irdrive"))) == []


def test_the_driver_reaches_the_lab_only_through_its_gateways() -> None:
    modules = _modules(DRIVER_ROOT, "irdrive")
    assert set(modules) >= LAB_GATEWAYS
    importers = {
        name
        for name, path in modules.items()
        if any(i.split(".")[0] == "irdrive_lab" for i in _imported(name, path))
    }
    assert importers <= LAB_GATEWAYS
