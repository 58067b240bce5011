"""The core's import graph, read from the source: no cycle between modules of `clari_data/` (imports
inside functions count, since they only hide a cycle), and no Streamlit anywhere in the core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "clari_data"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module `name` imports, at the top or in a function, relative imports resolved; a name
    imported from a package counts as its submodule when there is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = {f"{source}.{alias.name}" for alias in node.names} & known
            found |= submodules
            if len(submodules) < len(node.names):
                found.add(source)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    # The package's own __init__ is empty: naming it (`from . import x`) is no dependency.
    return {name: imports(name, path, known) - {PACKAGE} for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One path around each strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def test_the_graph_is_read_right():
    edges = graph()
    assert "clari_data.alerting.notify" in edges and "clari_data.alerting.notify.render" in edges
    assert "clari_data.shared.rules" in edges["clari_data.shared.config"]  # `from .rules import ...`
    assert "clari_data.alerting.notify.render" in edges["clari_data.alerting.notify"]  # `from . import render`
    assert "clari_data.shared.pages" in edges["clari_data.alerting.notify.render"]  # `from ... import pages`
    assert "clari_data.storage.warehouse" in edges["clari_data.ingest.refresh"]  # an absolute import
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# The rooms of the core, each with the rooms it may import from: imports only point down, and the
# read side and the ingest side know nothing of each other. `clari_data/__main__.py`, the command
# line, stands above them all.
ROOMS = {
    "shared": set(),
    "storage": {"shared"},
    "ingest": {"shared", "storage"},
    "read": {"shared", "storage"},
    "alerting": {"shared", "storage", "read"},
    "runtime": {"shared", "storage", "ingest", "read", "alerting"},
}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else ""


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import from a room into a room it may not use."""
    return sorted(f"{name} imports {target}" for name, targets in edges.items() for target in targets
                  if room(name) in ROOMS and room(target) != room(name) and room(target) not in ROOMS[room(name)])


def test_every_core_module_lives_in_a_room():
    assert {n for n in modules() if room(n) not in ROOMS} == {PACKAGE, f"{PACKAGE}.__main__"}
    assert set(ROOMS) == {p.name for p in (ROOT / PACKAGE).iterdir() if (p / "__init__.py").exists()}


def test_imports_only_point_down_the_rooms():
    assert upward(graph()) == []


def test_an_upward_or_sideways_import_is_found():
    edges = {"clari_data.read.projection": {"clari_data.ingest.refresh", "clari_data.storage.warehouse"},
             "clari_data.shared.config": {"clari_data.alerting.alerts", "clari_data.shared.rules"},
             "clari_data.runtime.worker": {"clari_data.alerting.notify"},
             "clari_data.__main__": {"clari_data.runtime.worker"}}
    assert upward(edges) == ["clari_data.read.projection imports clari_data.ingest.refresh",
                             "clari_data.shared.config imports clari_data.alerting.alerts"]


def test_no_import_cycle_in_the_core():
    assert cycles(graph()) == []


def test_the_refresh_does_not_need_the_notifications():
    edges = graph()
    reached, todo = set(), ["clari_data.ingest.refresh"]
    while todo:
        for m in edges[todo.pop()] - reached:
            reached.add(m)
            todo.append(m)
    assert not {m for m in reached if m.startswith("clari_data.alerting.notify")}


def test_no_core_module_imports_streamlit():
    offenders = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            named = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(n == "streamlit" or n.startswith("streamlit.") for n in named):
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_a_refresh_process_without_notifications_never_loads_pandas():
    code = "import sys; import clari_data.ingest.refresh; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "False"
