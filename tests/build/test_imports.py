"""Facts about the library's import graph, read from the source with ast: no import cycle anywhere in
pipeline/ (function-level imports count too: a lazy import only hides a cycle), no module of
pipeline/build/ imports the build package itself or is over 300 lines, and nothing below the build
imports it."""

from __future__ import annotations

import ast
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(PIPELINE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def imported(path: Path, modules: set[str]) -> set[str]:
    """The pipeline modules a file imports at run time (TYPE_CHECKING blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        found.update(n for n in names if n in modules)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PIPELINE.rglob("*.py")}
    return {name: imported(path, set(files)) - {name} for name, path in files.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_the_checker_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_pipeline():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


def test_build_package_imports_only_downward():
    edges = graph()
    build = {m for m in edges if m.startswith("pipeline.build.")}
    assert {"pipeline.build.config", "pipeline.build.plan", "pipeline.build.run"} <= build
    for name in build:
        assert "pipeline.build" not in edges[name], f"{name} imports its own package"
    for name, deps in edges.items():
        if not name.startswith("pipeline.build"):
            assert not {d for d in deps if d.startswith("pipeline.build")}, f"{name} imports the build"


def test_no_build_module_over_300_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (PIPELINE / "build").glob("*.py")}
    assert sizes and max(sizes.values()) <= MAX_LINES, sizes
