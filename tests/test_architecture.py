"""The house rules that keep the package's rooms apart, checked on its source.

- The import graph of ``sim`` has no circles, counting imports inside
  functions (a circle hidden in a function is still a circle) and the
  package's imports.
- The light modules (vocabulary, declarations, budget, storage, processes)
  import nothing heavy, so the command line refuses bad input fast and the
  report reads results without the engine.
- The classroom model imports without Solara.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sim"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str, known: set[str]) -> set[str]:
    # Imports for type checkers only never run, so they make no circle.
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
                   for stmt in node.body for inner in ast.walk(stmt)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            # "from sim import params" names the module sim.params; "from sim.x import f" names sim.x.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and name != "sim":
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: _imports(ast.parse(path.read_text()), name, known) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary circle found by depth-first search (one per back edge)."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_import_graph_has_no_circles():
    graph = import_graph()
    assert len(graph) > 30
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("module", ["sim.schema", "sim.params", "sim.budget", "sim.storage", "sim.processes",
                                    "sim.selectors", "sim.report.results", "sim.study.formula"])
def test_light_modules_stay_light(module):
    code = (f"import sys, {module}; heavy = [m for m in ('numba', 'mesa', 'plotly', 'statsmodels', 'sim.engine') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_the_classroom_model_imports_without_solara():
    code = "import sys, sim.classroom; sim.classroom.ClassroomModel; print('solara' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
