"""The README's configuration table names every environment variable the code reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_READS = re.compile(
    r"""(?:\benv(?:\.(?:bool|int|float|str|list|json|db|url|cache))?\(\s*|os\.environ\.get\(\s*|"""
    r"""os\.environ\[\s*|os\.getenv\(\s*)["']([A-Z][A-Z0-9_]+)["']"""
)


def _variables_read() -> set[str]:
    found = set()
    for folder in ("config", "apps", "scoreboard"):
        for path in (ROOT / folder).rglob("*.py"):
            found.update(_READS.findall(path.read_text(encoding="utf-8")))
    return found


def _configuration_table() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))


def test_the_code_reads_settings_from_the_environment():
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= _variables_read()


def test_every_variable_the_code_reads_is_in_the_readme_configuration_table():
    missing = _variables_read() - _configuration_table()

    assert not missing, f"add to README.md's configuration table: {sorted(missing)}"
