"""The API answers as its OpenAPI schema says, under generated input (Schemathesis against a real server).

A gunicorn process serves this suite's database; Schemathesis reads its
/api/schema/ and sends each operation a bounded number of generated requests,
once with a member's token and once with a staff token, checking that no
answer is a 5xx, that every status code and content type is one the schema
lists, and that every body matches its schema.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from apps.leagues.services import league_create
from tests.factories import GuessFactory, MatchFactory, MemberFactory, ParticipationFactory, TournamentFactory
from tests.live.conftest import START_TIMEOUT, Gunicorn, child_env
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Per operation and token; 33 operations x 2 tokens stays near a minute and a half on two cores.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
# Fixed, so a failure found here is found again on the next run.
SEED = 20260613


@pytest.fixture
def world():
    """A little of everything the operations read, so generated ids sometimes hit real rows (ids 1..n)."""
    member = MemberFactory()
    staff = MemberFactory(is_staff=True, is_superuser=True)
    tournament = TournamentFactory()
    upcoming = MatchFactory(tournament=tournament, kickoff_at=timezone.now() + timezone.timedelta(days=3))
    finished = MatchFactory(tournament=tournament, status="finished", home_score=1, away_score=0, result_version=1)
    for who in (member, staff):
        ParticipationFactory(tournament=tournament, member=who)
        GuessFactory(match=upcoming, member=who)
    league_create(tournament_id=tournament.pk, owner_id=member.pk, name="Contract league")
    return {"member": member, "staff": staff, "matches": (upcoming, finished)}


def _run(base: str, token: str, report: Path) -> subprocess.CompletedProcess:
    # Run from the temporary directory: Schemathesis keeps state (.schemathesis/) where it runs.
    # One worker: with two threads, Hypothesis's ast.parse of strategy lambdas hits CPython
    # 3.11's "AST constructor recursion depth mismatch" race and fails the run without a finding.
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{base}/api/schema/",
        "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-shrink",
        "--generation-database", "none", "--request-timeout", "30", "--no-color",
        "-H", f"Authorization: Bearer {token}", "--report", "junit", "--report-junit-path", str(report),
    ]  # fmt: skip
    return subprocess.run(command, cwd=report.parent, capture_output=True, text=True, timeout=600)


def test_every_operation_answers_as_the_schema_says_for_a_member_and_for_staff(world, request, tmp_path):
    web = Gunicorn(child_env())
    request.addfinalizer(web.kill)
    wait_until(web.ready, timeout=START_TIMEOUT, what=f"{web.name} to answer /healthz")

    failures = []
    for who in ("member", "staff"):
        token = str(RefreshToken.for_user(world[who]).access_token)
        result = _run(web.base, token, tmp_path / f"{who}.xml")
        if result.returncode != 0:
            failures.append(f"--- as {who} (exit {result.returncode}):\n{result.stdout[-12000:]}\n{result.stderr[-3000:]}")
    assert not failures, "\n".join(failures) + f"\n--- server:\n{web.output(60)}"
