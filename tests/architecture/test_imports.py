"""The direction of imports (docs/architecture.md): no cycle between apps, nor between leaderboards' packages.

Reads the source with `ast`, so it sees exactly the module-level imports.
Function-local imports of project code are allowed only with a comment on the
import line or the one above it saying why (the Celery task <-> service pair).
"""

import ast
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"
# Packages of apps/leaderboards that must import one way: settlement and live
# over boards, never the other way, and never each other; achievements under
# all three (settlement and the rank snapshots call it, the live stream listens).
LEADERBOARD_PACKAGES = ("boards", "settlement", "live", "achievements")


def _modules():
    for path in sorted(APPS.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(APPS.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module.count("."):
            yield path, module


def _imports(tree: ast.AST, *, local: bool):
    """(line, module) of project imports, at module level (local=False) or inside functions (local=True)."""
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import | ast.ImportFrom) and in_function == local:
                names = [alias.name for alias in child.names] if isinstance(child, ast.Import) else [child.module or ""]
                found.extend((child.lineno, name) for name in names if name.startswith("apps."))
            visit(child, inside)

    visit(tree, False)
    return found


def _node(module: str) -> str:
    """The unit a module belongs to: its app, or for apps.leaderboards its package (or top-level module)."""
    parts = module.split(".")
    if parts[1] == "leaderboards" and len(parts) > 2:
        return f"leaderboards.{parts[2]}"
    return parts[1]


def _graph(unit) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path, module in _modules():
        source = unit(module)
        for _, imported in _imports(ast.parse(path.read_text()), local=False):
            target = unit(imported)
            if target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_apps_import_each_other_without_a_cycle():
    graph = _graph(lambda module: module.split(".")[1])
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_leaderboard_packages_import_one_way():
    graph = _graph(_node)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    for package in LEADERBOARD_PACKAGES:
        assert f"leaderboards.{package}" in graph, f"apps/leaderboards/{package} is missing"
    assert not graph["leaderboards.boards"] & {"leaderboards.settlement", "leaderboards.live"}
    assert "leaderboards.live" not in graph["leaderboards.settlement"]
    assert "leaderboards.settlement" not in graph["leaderboards.live"]
    assert not graph["leaderboards.achievements"] & {
        "leaderboards.boards",
        "leaderboards.settlement",
        "leaderboards.live",
    }


def test_common_imports_no_other_app_anywhere():
    """Not even inside a function: every app may use common, so common can use none."""
    imported = set()
    for path, module in _modules():
        if module.split(".")[1] == "common":
            tree = ast.parse(path.read_text())
            imported |= {name.split(".")[1] for local in (False, True) for _, name in _imports(tree, local=local)}
    assert imported <= {"common"}


def test_matches_does_not_import_ingestion():
    graph = _graph(lambda module: module.split(".")[1])
    assert "ingestion" not in graph["matches"]
    assert "matches" in graph["ingestion"]  # the walk does see imports between apps


def test_function_local_project_imports_say_why():
    unexplained = []
    for path, _ in _modules():
        lines = path.read_text().splitlines()
        for line, imported in _imports(ast.parse("\n".join(lines)), local=True):
            said = "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")
            if not said:
                unexplained.append(f"{path.relative_to(APPS.parent)}:{line} imports {imported}")
    assert unexplained == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None
