"""The package's shape: no import cycles, small modules, an SDK-free engine, one import for plugins.

Imports are read from the source (``ast``), all of them: at module level, inside functions and
under ``TYPE_CHECKING``. An import of a package counts as an import of its ``__init__``; the
implicit import of the parent packages does not (every submodule would be in a cycle with its
``__init__`` otherwise).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.update_readme import only_block, readme_section

REPO = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = [REPO, *sorted(p for p in (REPO / "plugins").iterdir() if p.is_dir())]
MAX_LINES = 300


def _modules() -> dict[str, Path]:
    """Every module of the project and of the plugins, by dotted name."""
    found: dict[str, Path] = {}
    for root in PACKAGE_ROOTS:
        for package in sorted(root.glob("tap_mixpanel_engage*/__init__.py")):
            for path in sorted(package.parent.rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                found[name] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """Every module ``path`` imports: ``from a import b`` is ``a.b`` when that is a module of the
    project, else ``a``; relative imports are resolved against ``name``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in MODULES else base


GRAPH = {
    name: {target for target in _imported(name, path) if target in MODULES and target != name}
    for name, path in MODULES.items()
}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_the_project_and_the_plugins() -> None:
    assert {"tap_mixpanel_engage.engage.export", "tap_mixpanel_engage.sinks"} <= set(MODULES)
    assert any(name.startswith("tap_mixpanel_engage_sink_jsonl") for name in MODULES)
    assert "tap_mixpanel_engage.sinks.contract" in GRAPH["tap_mixpanel_engage.sinks"]


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_takes_part_in_an_import_cycle() -> None:
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_grows_past_300_lines(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines"


def test_the_engine_never_imports_the_singer_sdk_even_indirectly() -> None:
    engine = [name for name in MODULES if name.startswith("tap_mixpanel_engage.engage")]
    assert engine
    reached, todo = set(engine), list(engine)
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    for name in sorted(reached):
        imports = set(_imported(name, MODULES[name]))
        assert not any(i == "singer_sdk" or i.startswith("singer_sdk.") for i in imports), name


def _project_imports(source: str) -> set[str]:
    """The import statements of ``source`` that reach into tap_mixpanel_engage, as text."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
        if module.split(".")[0] == "tap_mixpanel_engage":
            assert isinstance(node, ast.ImportFrom)
            found.add(f"from {module} import {', '.join(a.name for a in node.names)}")
        if isinstance(node, ast.Import):
            found |= {
                f"import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "tap_mixpanel_engage"
            }
    return found


PLUGIN_SOURCES = sorted(p for p in (REPO / "plugins").rglob("*.py") if "tests" not in p.parts)


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_import_only_the_sinks_module_from_the_project(path: Path) -> None:
    imports = _project_imports(path.read_text(encoding="utf-8"))
    assert imports <= {"from tap_mixpanel_engage import sinks"}


def test_the_guide_example_imports_only_the_sinks_module_from_the_project() -> None:
    example = only_block(readme_section("## Writing a sink plugin"), "python")
    assert _project_imports(example) == {"from tap_mixpanel_engage import sinks"}


def test_every_name_the_sinks_module_promises_is_there() -> None:
    from tap_mixpanel_engage import sinks

    missing = [name for name in sinks.__all__ if not hasattr(sinks, name)]
    assert missing == []
