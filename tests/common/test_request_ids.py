"""Request ids: answered on every response, carried into the jobs a request causes and into their log lines."""

import asyncio
import json
import sys

import httpx
import pytest
import redis
from django.conf import settings
from django.test import AsyncClient, Client
from rest_framework_simplejwt.tokens import RefreshToken

from apps.common import request_id
from apps.common.models import AuditEntry
from apps.leaderboards.models import SettlementRequest
from apps.ingestion.models import Execution
from apps.ingestion.services import ingestion_run
from apps.matches.models import Tournament
from tests.factories import MemberFactory
from tests.ingestion.conftest import write_json
from tests.live.conftest import START_TIMEOUT, Child, Gunicorn, child_env
from tests.waiting import spare_port, wait_until

UNSAFE_IDS = ["abc\ndef", "x" * 200, "has space", "quote\"d", ""]


# --- in process -------------------------------------------------------------


def test_a_safe_caller_id_is_answered_back():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("unsafe", UNSAFE_IDS, ids=["newline", "200-chars", "space", "quote", "empty"])
def test_an_unsafe_caller_id_is_replaced_by_a_fresh_one(unsafe):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=unsafe)
    answered = response["X-Request-ID"]
    assert answered != unsafe and request_id.accept_or_new(answered) == answered
    assert len(answered) == 32


def test_a_request_without_an_id_gets_a_new_one_each_time():
    first, second = Client().get("/healthz"), Client().get("/healthz")
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_64_character_id_is_kept_and_65_is_not():
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="a" * 64)["X-Request-ID"] == "a" * 64
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="a" * 65)["X-Request-ID"] != "a" * 65


@pytest.mark.django_db
def test_errors_carry_the_id_too():
    response = Client().get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="err-1")
    assert response.status_code == 404 and response["X-Request-ID"] == "err-1"


def test_the_id_is_answered_under_asgi():
    response = asyncio.run(AsyncClient().get("/healthz", headers={"X-Request-ID": "async-1"}))
    assert response["X-Request-ID"] == "async-1"


def test_the_id_is_unbound_after_a_request():
    Client().get("/healthz", HTTP_X_REQUEST_ID="gone-after")
    assert request_id.current() is None


def test_a_job_published_inside_a_request_carries_its_id_in_the_headers():
    headers: dict = {}
    with request_id.bound(request_id="abc-123"):
        request_id.task_publish_add_request_id(headers=headers)
    request_id.task_publish_add_request_id(headers=(outside := {}))
    assert headers == {request_id.CELERY_HEADER: "abc-123"} and outside == {}


# --- real processes ---------------------------------------------------------


class IngestionWorker(Child):
    def __init__(self, env: dict[str, str]):
        super().__init__(
            "celery-ingestion",
            [
                sys.executable, "-m", "celery", "-A", "scoreboard", "worker", "-Q", "ingestion", "-P", "solo",
                "-n", f"ingestion-ids-{spare_port()}@%h", "--without-gossip", "--without-mingle",
                "--without-heartbeat", "--loglevel", "INFO",
            ],
            env,
        )  # fmt: skip

    def ready(self) -> bool:
        if not self.alive():
            raise AssertionError(f"celery worker exited:\n{self.output()}")
        return self.saw(" ready.")


def _json_lines(child: Child) -> list[dict]:
    lines = []
    for line in list(child.lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            lines.append(record)
    return lines


@pytest.fixture
def servers(request):
    env = child_env(LOG_FORMAT="json", LOG_LEVEL="INFO")
    web = Gunicorn(env)
    request.addfinalizer(web.kill)
    worker = IngestionWorker(env)
    request.addfinalizer(worker.kill)
    wait_until(web.ready, timeout=START_TIMEOUT, what=f"{web.name} to answer /healthz")
    wait_until(worker.ready, timeout=START_TIMEOUT, what="the ingestion worker to be ready", interval=0.1)
    return web, worker


@pytest.fixture
def cup(tmp_path):
    matches = [
        {"round": "Final", "num": 1, "date": "2030-07-21", "time": "18:00 UTC", "team1": "Spain", "team2": "Brazil",
         "score": {"ft": [2, 1]}},
    ]  # fmt: skip
    source = write_json(tmp_path / "cup.json", {"name": "Ids Cup", "matches": matches})
    ingestion_run(provider="openfootball", source=str(source), tournament_slug="ids-cup", operation="fixtures")
    return Tournament.objects.get(slug="ids-cup")


def _trigger(web: Gunicorn, tournament: Tournament, staff, sent_id: str) -> tuple[httpx.Response, Execution]:
    response = httpx.post(
        f"{web.base}/api/v1/admin/ingestions",
        json={"tournament": tournament.pk, "operation": "results"},
        headers={"Authorization": f"Bearer {RefreshToken.for_user(staff).access_token}", "X-Request-ID": sent_id},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]
    execution = wait_until(
        lambda: Execution.objects.filter(pk=execution_id, status__in=["completed", "failed"]).first(),
        timeout=60,
        what="the execution to finish on the worker",
    )
    return response, execution


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_request_id_reaches_the_web_log_the_worker_log_the_execution_and_the_jobs_it_causes(servers, cup):
    web, worker = servers
    staff = MemberFactory(is_staff=True, is_superuser=True)
    broker = redis.Redis.from_url(settings.REDIS_URL)

    response, execution = _trigger(web, cup, staff, "abc-123")

    assert response.headers["X-Request-ID"] == "abc-123"
    assert execution.status == "completed", execution.error
    assert execution.request_id == "abc-123"
    # The audit trail names the request that triggered the ingestion.
    assert list(AuditEntry.objects.filter(action="ingestion_triggered").values_list("request_id", flat=True)) == [
        "abc-123"
    ]
    # The result it ingested asked for a settlement: the request remembers whose change it was.
    assert list(SettlementRequest.objects.filter(match__tournament=cup).values_list("request_id", flat=True)) == [
        "abc-123"
    ]
    web_lines = wait_until(
        lambda: [r for r in _json_lines(web) if r.get("request_id") == "abc-123"],
        timeout=10,
        what=f"web log lines with the id:\n{web.output()}",
    )
    assert any(
        r["logger"] == "apps.common.requests" and r["message"].startswith("POST /api/v1/admin/ingestions 202")
        for r in web_lines
    ), web_lines
    assert all({"time", "level", "logger", "message"} <= set(r) for r in web_lines)
    worker_lines = wait_until(
        lambda: [r for r in _json_lines(worker) if r.get("request_id") == "abc-123"],
        timeout=10,
        what=f"worker log lines with the id:\n{worker.output()}",
    )
    finished = [r for r in worker_lines if r["message"].startswith(f"Ingestion execution {execution.pk} completed")]
    assert finished and finished[0]["execution_id"] == execution.pk and finished[0]["job_id"], worker_lines
    # The finished result queued a settlement job on the worker: the id rides on in its headers.
    queued = [json.loads(message) for message in broker.lrange("settlement", 0, -1)]
    assert queued and {m["headers"].get(request_id.CELERY_HEADER) for m in queued} == {"abc-123"}, queued


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_unsafe_request_id_is_replaced_before_it_reaches_logs_or_rows(servers, cup):
    web, worker = servers
    staff = MemberFactory(is_staff=True, is_superuser=True)
    unsafe = "x" * 200

    response, execution = _trigger(web, cup, staff, unsafe)

    replaced = response.headers["X-Request-ID"]
    assert replaced != unsafe and len(replaced) == 32
    assert execution.request_id == replaced
    wait_until(
        lambda: any(r.get("request_id") == replaced for r in _json_lines(worker)),
        timeout=10,
        what="worker log lines with the replacement id",
    )
    assert not any(unsafe in line for line in web.lines + worker.lines)
