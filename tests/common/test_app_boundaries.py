"""apps/common is shared by every app, so it imports none; matches, a core app, does not import ingestion."""

import ast
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"


def _apps_imported(app: str) -> set[str]:
    """The apps `apps/<app>` imports anywhere in its code (module level or inside functions)."""
    found = set()
    for path in (APPS / app).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found.update(name.split(".")[1] for name in names if name.startswith("apps."))
    return found


def test_the_common_app_imports_no_other_app():
    assert _apps_imported("common") <= {"common"}


def test_matches_does_not_import_ingestion():
    assert "ingestion" not in _apps_imported("matches")
    assert "matches" in _apps_imported("ingestion")  # the walk does see imports between apps
