"""Celery workers serve their own metrics: their jobs never reach a web process's /metrics."""

import subprocess
import sys
import time
import urllib.request

import pytest

from apps.leaderboards.models import SettlementRequest
from tests.factories import TournamentFactory
from tests.leaderboards.helpers import guesses, match_in, players
from tests.leaderboards.test_settlement_faults import ROOT, _send, _worker_env
from tests.waiting import spare_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_a_settlement_worker_serves_its_job_counts_on_the_worker_metrics_port(tmp_path):
    from apps.matches.models import Match

    tournament = TournamentFactory()
    members = players(tournament, 3)
    match = match_in(tournament)
    guesses(match, {m: (1, 0) for m in members})
    Match.objects.filter(pk=match.pk).update(status="finished", home_score=1, away_score=0, result_version=1)
    request = SettlementRequest.objects.create(match=match, result_version=1, idempotency_key=f"settlement:{match.pk}:1")

    port = spare_port()
    env = _worker_env(WORKER_METRICS_PORT=port)
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "scoreboard", "worker", "-Q", "settlement", "-P", "prefork", "-c", "1",
         "-n", f"metrics-{time.monotonic_ns()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: "scoreboard_settlement_jobs_total" in _scrape(port), timeout=60, what="worker metrics")
        _send(request)
        wait_until(
            lambda: 'scoreboard_settlement_jobs_total{outcome="success"} 1.0' in _scrape(port),
            timeout=60,
            what=f"the settled job counted on port {port} (worker log: {log})",
        )
    finally:
        worker.kill()
        worker.wait(timeout=20)
    assert SettlementRequest.objects.get(pk=request.pk).status == "done"
