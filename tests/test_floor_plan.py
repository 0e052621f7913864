"""The floor plan holds: no import loops, and imports run one way (centers → kernels → common).

Every ``import`` statement is read from the source (including those inside functions and under
``TYPE_CHECKING``), so a loop hidden in a function body is a loop here too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGES = ("node", "common", "protocol", "config", "conformance", "executor", "rpa")

# Rooms of the node and what each may import (besides itself, the standard library and third parties).
BASE = {"common", "protocol", "config", "node.runtime"}
ALLOWED: dict[str, set[str]] = {
    "node.robots": BASE,
    "node.packages": BASE,
    "node.runs": BASE | {"node.robots", "node.packages"},
    "node.files": BASE | {"node.runs", "node.robots", "node.packages"},
    "node.hub": BASE | {"node.runs", "node.robots", "node.packages", "node.files"},
    "node.share": BASE | {"node.packages", "node.runs", "node.robots", "node.files"},
    "node.design": BASE | {"node.packages", "node.runs", "node.robots", "node.files"},
    "node.operations": BASE | {"node.packages", "node.runs", "node.robots", "node.files"},
    "node.schedule": BASE | {"node.packages", "node.runs", "node.robots", "node.files"},
}
KERNELS = ("node.robots", "node.packages", "node.runs", "node.files")
CENTERS = ("node.share", "node.design", "node.operations", "node.schedule")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """module → the project modules it imports."""
    files = [p for pkg in packages for p in (root / pkg).rglob("*.py") if "migrations" not in p.parts]
    modules = {_module_name(p, root): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    sys.setrecursionlimit(10_000)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _room(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "node":
        return parts[0]
    return ".".join(parts[:2]) if len(parts) > 1 else "node"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _graph()


def test_no_module_imports_itself_through_others(graph):
    """No loop of imports between files anywhere in the node, common, protocol or config."""
    loops = [
        c
        for c in _cycles(graph)
        if any(m.split(".")[0] in {"node", "common", "protocol", "config"} for m in c)
    ]
    assert loops == []


def test_no_two_rooms_of_the_node_import_each_other(graph):
    """Rooms (kernels, the hub, centers) form no loop either: each sits on its own floor."""
    rooms: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module.startswith("node."):
            rooms.setdefault(_room(module), set()).update(
                _room(t) for t in targets if t.startswith("node.") and _room(t) != _room(module)
            )
    assert _cycles(rooms) == []


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_a_room_imports_only_the_floors_below_it(graph, room):
    """Centers import kernels, never the hub or another center; kernels never import a center or
    the hub; the hub imports kernels only."""
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _room(module) == room
        for target in targets
        if _room(target) != room and not any(target == a or target.startswith(a + ".") for a in ALLOWED[room])
    )
    assert wrong == []


def test_common_protocol_and_the_sdk_stand_alone(graph):
    """``common`` and ``config`` import no tier and no client; ``protocol`` imports nothing of ours;
    the SDK and the conformance checker import only ``protocol`` (and, the checker, the SDK): a
    vendor embeds or runs them without the node."""
    tiers_and_clients = {"node", "hq", "sync", "rpa", "executor", "conformance"}
    wrong = []
    for module, targets in graph.items():
        for target in targets:
            top = target.split(".")[0]
            if module.split(".")[0] in {"common", "config"} and top in tiers_and_clients:
                wrong.append(f"{module} -> {target}")
            if module.startswith("config") and top == "common":
                wrong.append(f"{module} -> {target}")
            if module.startswith("conformance") and top not in {"conformance", "protocol", "executor"}:
                wrong.append(f"{module} -> {target}")
            if (
                module.startswith("conformance")
                and top == "executor"
                and not target.startswith("executor.sdk")
            ):
                wrong.append(f"{module} -> {target}")
            if module.startswith("protocol") and not target.startswith("protocol"):
                wrong.append(f"{module} -> {target}")
            if module.startswith("executor.sdk") and not target.startswith(("executor.sdk", "protocol")):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_protocol_is_pure_python():
    """``protocol`` uses the standard library only (no Flask, no pydantic): anyone can import it."""
    third_party = []
    for path in (ROOT / "protocol").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top != "protocol" and top not in sys.stdlib_module_names and top != "__future__":
                    third_party.append(f"{path.name}: {name}")
    assert third_party == []


def test_the_checker_sees_a_loop_hidden_in_a_function(tmp_path):
    """The checker finds a loop made by an import inside a function body, and a relative one (so a
    pass above means something)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from pkg import c\n")
    (pkg / "c.py").write_text("from . import a\n")
    (pkg / "d.py").write_text("import pkg.a\n")
    assert _cycles(_graph(tmp_path, ("pkg",))) == [["pkg.a", "pkg.b", "pkg.c"]]
