"""The layering rule of DESIGN.md, checked on the source: no import cycle, no upward import.

The import graph is read from the AST of every module under ``src/entropy_select`` (nothing is
imported, so optional dependencies do not matter). Every ``import`` counts, at module level or
inside a function (a lazy import is still a dependency); only imports under
``if TYPE_CHECKING:`` are left out (type names, never executed). ``from pkg import name`` is an
edge to ``pkg.name`` when that is a module, else to ``pkg``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "entropy_select"

#: layer of each top-level part of the package (DESIGN.md, "Layering"); an import must point to a
#: strictly lower layer or stay inside its own sub-package, except between the top-floor parts
LAYERS = {
    "io": 0,
    "core": 1,
    "kernels": 2,
    "selectors": 3,
    "encoders": 3,
    "streaming": 3,
    "adapters": 4,
    "video": 5,
    "viz": 5,
    "eval": 5,
    "cli": 5,
    "integrations": 5,
    "__main__": 5,
    "": 5,  # the package itself (``import entropy_select as es``): the facade over everything
}
TOP = 5

#: function-level imports allowed to point upward, (importing module, imported sub-package) ->
#: why: none since the impl= dispatch moved from core to selectors (issue 11).
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}  # none: the impl= dispatch lives in selectors


class Edge(NamedTuple):
    source: str  # importing module
    target: str  # imported module
    function_level: bool
    line: int


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(module: str, node: ast.AST, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    package = module if modules[module].name == "__init__.py" else module.rpartition(".")[0]
    if node.level:
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
        for alias in node.names
    ]


def import_graph() -> list[Edge]:
    """Every import of a module of the package by a module of the package."""
    modules = _modules()
    edges: list[Edge] = []

    def visit(module: str, node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # type names only: never executed
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, child, modules):
                    if target.split(".")[0] == PACKAGE:
                        edges.append(Edge(module, target, in_function, child.lineno))
            nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(module, child, in_function or nested)

    for module, path in modules.items():
        visit(module, ast.parse(path.read_text(encoding="utf-8")), False)
    return edges


def _part(module: str) -> str:
    """The top-level part of the package a module belongs to (``""`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _allowed(edge: Edge) -> bool:
    return edge.function_level and (edge.source, _part(edge.target)) in ALLOWED_UPWARD


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_graph_is_read():
    """The parser sees the package's real imports (else the tests below would pass vacuously)."""
    edges = {(e.source, e.target) for e in import_graph()}
    assert ("entropy_select.kernels.triton.window_entropy", "entropy_select.core.entropy") in edges
    assert ("entropy_select.adapters", "entropy_select.selectors") in edges
    # function level: the impl= dispatch, one layer above kernels
    assert ("entropy_select.selectors.entropy_select", "entropy_select.kernels") in edges
    assert len(edges) > 100


def test_the_cycle_finder_finds_cycles():
    fake = [Edge("a", "b", False, 1), Edge("b", "c", True, 1), Edge("c", "a", False, 1)]
    assert _cycles(fake + [Edge("c", "d", False, 1)]) == [["a", "b", "c"]]
    assert _cycles([Edge("a", "b", False, 1)]) == []


def test_no_import_cycle():
    edges = [e for e in import_graph() if not _allowed(e)]
    cycles = _cycles(edges)
    detail = [
        f"{e.source} -> {e.target} (line {e.line}{', in a function' if e.function_level else ''})"
        for cycle in cycles
        for e in edges
        if e.source in cycle and e.target in cycle
    ]
    assert not cycles, "import cycles:\n" + "\n".join(detail)


def test_core_imports_nothing_from_higher_layers():
    """``core`` needs torch only: no module-level import of anything above it, and no
    function-level one but the listed exception."""
    bad = [
        f"{e.source} line {e.line}: imports {e.target}"
        + (" inside a function" if e.function_level else " at module level")
        for e in import_graph()
        if _part(e.source) == "core" and _part(e.target) != "core" and not _allowed(e)
    ]
    assert not bad, "\n".join(bad)


def test_no_upward_import_between_layers():
    bad = []
    for e in import_graph():
        src, dst = _part(e.source), _part(e.target)
        if src == dst or _allowed(e):
            continue
        if LAYERS[dst] < LAYERS[src] or LAYERS[src] == LAYERS[dst] == TOP:
            continue
        bad.append(f"{e.source} line {e.line} ({src}, layer {LAYERS[src]}) imports {e.target} "
                   f"({dst}, layer {LAYERS[dst]})")  # fmt: skip
    assert not bad, "\n".join(bad)


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(m) for m in _modules()}
    assert parts <= LAYERS.keys(), f"give these a layer in LAYERS: {parts - LAYERS.keys()}"


def test_allowed_exceptions_are_still_needed():
    """When the impl= dispatch moves out of core, drop its entry from ALLOWED_UPWARD."""
    present = {(e.source, _part(e.target)) for e in import_graph() if e.function_level}
    stale = [key for key in ALLOWED_UPWARD if key not in present]
    assert not stale, f"no longer imported, remove from ALLOWED_UPWARD: {stale}"


def test_selectors_and_adapters_are_lazy_attributes():
    """``es.selectors`` and ``es.adapters`` work after a bare ``import entropy_select``, and
    neither is imported until it is used."""
    code = (
        "import sys, entropy_select as es\n"
        "assert 'entropy_select.selectors' not in sys.modules\n"
        "assert 'entropy_select.adapters' not in sys.modules\n"
        "assert 'entropy_select' in es.selectors.available()\n"
        "assert callable(es.adapters.patch) and es.patch is es.adapters.patch\n"
        "assert {'selectors', 'adapters'} <= set(dir(es))\n"
        "import entropy_select.selectors as direct\n"
        "assert es.selectors is direct\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
