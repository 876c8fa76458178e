"""The alert rules and the runbook name only metrics the code defines, and the runbook explains every one."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "operations.md"
_METRIC = re.compile(r"\bscoreboard_[a-z0-9_]+")


def _families() -> dict[str, str]:
    """Every scoreboard metric family this code registers, by name, with its type."""
    # Importing the modules registers their collectors; the outbox collector registers in AppConfig.ready().
    import apps.common.metrics  # noqa: F401
    import apps.ingestion.metrics  # noqa: F401
    import apps.leaderboards.achievements.metrics  # noqa: F401
    import apps.leaderboards.boards.metrics  # noqa: F401
    import apps.leaderboards.live.metrics  # noqa: F401
    import apps.leaderboards.settlement.metrics  # noqa: F401
    from prometheus_client.registry import REGISTRY

    return {f.name: f.type for f in REGISTRY.collect() if f.name.startswith("scoreboard_")}


def _series_names() -> set[str]:
    """The names a PromQL expression may use: a family's own, and its _total/_bucket/_sum/_count series."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {name + suffix for name, kind in _families().items() for suffix in suffixes.get(kind, ("",))}


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.mark.django_db
def test_every_alert_expression_names_only_metrics_the_code_defines():
    known = _series_names()
    assert "scoreboard_settlement_lag_seconds" in known and "scoreboard_live_delivery_lag_seconds_bucket" in known
    for rule in _rules():
        used = set(_METRIC.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= known, (rule["alert"], sorted(used - known))


def test_the_rules_cover_what_operators_must_hear_about():
    used = {m for rule in _rules() for m in _METRIC.findall(rule["expr"])}
    for needed in (
        "scoreboard_settlement_lag_seconds",  # settlement lag, outbox age
        "scoreboard_settlement_outbox_depth",  # dead letters
        "scoreboard_ingestion_executions_total",  # ingestion failures
        "scoreboard_leaderboard_reads_total",  # Redis fallback rate
        "scoreboard_live_delivery_lag_seconds_bucket",  # live delivery lag
    ):
        assert needed in used, needed


@pytest.mark.django_db
def test_the_runbook_explains_every_metric_and_every_alert():
    runbook = RUNBOOK.read_text()
    missing_metrics = sorted(name for name in _families() if name not in runbook)
    missing_alerts = sorted(rule["alert"] for rule in _rules() if f"`{rule['alert']}`" not in runbook)
    assert not missing_metrics, f"add to docs/operations.md: {missing_metrics}"
    assert not missing_alerts, f"add to docs/operations.md: {missing_alerts}"
    assert not set(_METRIC.findall(runbook)) - _series_names() - set(_families()), "the runbook names unknown metrics"


def test_promtool_accepts_the_rules():
    """Debian's prometheus package brings promtool; outside CI its absence skips the test, under CI it fails it."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing; CI installs Debian's prometheus package (.ci/run)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout
