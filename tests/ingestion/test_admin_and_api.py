import pytest
from django.test import Client
from django.urls import reverse

from apps.ingestion.models import Execution
from apps.ingestion.services import ingestion_run
from apps.matches.models import Match, Tournament
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import MemberFactory, TournamentFactory

from .conftest import Answer, write_json

pytestmark = pytest.mark.django_db

SMALL_CUP = {
    "name": "Small Cup",
    "matches": [
        {"round": "Final", "num": 1, "date": "2030-07-21", "time": "18:00 UTC", "team1": "Spain", "team2": "Brazil",
         "score": {"ft": [2, 1]}},
    ],
}


@pytest.fixture
def staff():
    return MemberFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_browser(staff):
    browser = Client()
    browser.force_login(staff)
    return browser


@pytest.fixture
def cup_source(tmp_path):
    matches = [
        {"round": "Semi-finals", "num": 1, "date": "2030-07-14", "time": "18:00 UTC", "team1": "Spain", "team2": "Italy",
         "score": {"ft": [1, 0]}},
        {"round": "Semi-finals", "num": 2, "date": "2030-07-15", "time": "18:00 UTC", "team1": "Brazil",
         "team2": "Japan", "score": {"ft": [2, 2], "et": [3, 2]}},
        {"round": "Final", "num": 3, "date": "2030-07-21", "time": "18:00 UTC", "team1": "Spain", "team2": "Brazil",
         "score": {"ft": [2, 1]}},
    ]
    return str(write_json(tmp_path / "cup.json", {"name": "Cup 2030", "matches": matches}))


@pytest.fixture
def cup(cup_source):
    execution = ingestion_run(provider="openfootball", source=cup_source, tournament_slug="cup", operation="fixtures")
    assert execution.status == Execution.Status.COMPLETED, execution.error
    return Tournament.objects.get(slug="cup")


def test_staff_queue_an_ingestion_and_get_202_with_the_queued_execution(
    staff, cup, cup_source, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = member_client(staff).post(
            "/api/v1/admin/ingestions", {"tournament": cup.pk, "operation": "results"}, format="json"
        )

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    execution = Execution.objects.get(pk=body["execution_id"])
    assert (execution.status, execution.operation, execution.trigger) == ("queued", "results", "api")
    assert execution.triggered_by == staff
    assert (execution.provider, execution.source) == ("openfootball", cup_source)
    # The provider is read by the worker, after the request has answered.
    assert len(callbacks) == 1 and execution.steps.count() == 0


def test_the_queued_execution_runs_on_the_worker_and_reports_through_the_api(
    staff, cup, django_capture_on_commit_callbacks
):
    client = member_client(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/admin/ingestions", {"tournament": cup.pk, "operation": "results"}, format="json")
    execution_id = response.json()["execution_id"]

    detail = client.get(f"/api/v1/admin/executions/{execution_id}")

    assert detail.status_code == 200
    body = detail.json()
    assert {"id", "status", "operation", "provider", "tournament", "triggered_by", "created_at", "started_at",
            "finished_at", "steps", "report", "error"} <= set(body)
    assert (body["status"], body["tournament"], body["triggered_by"]) == ("completed", cup.pk, staff.pk)
    assert [step["name"] for step in body["steps"]][:3] == ["fetched", "parsed", "upserted"]
    assert body["report"]["matches"]["updated"] == 3
    assert Match.objects.filter(tournament=cup, status="finished").count() == 3


def test_queueing_an_ingestion_needs_a_token_and_staff(cup):
    assert_error(
        anonymous_client().post("/api/v1/admin/ingestions", {"tournament": cup.pk, "operation": "full"}, format="json"),
        401,
    )
    assert_error(
        member_client(MemberFactory()).post(
            "/api/v1/admin/ingestions", {"tournament": cup.pk, "operation": "full"}, format="json"
        ),
        403,
    )
    assert_error(anonymous_client().get("/api/v1/admin/executions/1"), 401)
    assert_error(member_client(MemberFactory()).get("/api/v1/admin/executions/1"), 403)
    assert not Execution.objects.exclude(trigger="command").exists()


def test_a_bad_operation_answers_a_field_map(staff, cup):
    response = member_client(staff).post(
        "/api/v1/admin/ingestions", {"tournament": cup.pk, "operation": "everything"}, format="json"
    )
    assert response.status_code == 400
    assert "operation" in response.json()


def test_an_unknown_tournament_answers_404(staff):
    assert_error(
        member_client(staff).post("/api/v1/admin/ingestions", {"tournament": 999999, "operation": "full"}, format="json"),
        404,
        "tournament_not_found",
    )


def test_a_tournament_without_a_data_source_answers_409(staff):
    tournament = TournamentFactory()
    assert_error(
        member_client(staff).post(
            "/api/v1/admin/ingestions", {"tournament": tournament.pk, "operation": "full"}, format="json"
        ),
        409,
        "no_data_source",
    )


def test_an_unknown_execution_answers_404(staff):
    assert_error(member_client(staff).get("/api/v1/admin/executions/999999"), 404, "execution_not_found")


def test_ingest_now_on_the_tournament_admin_queues_an_execution(staff_browser, staff, cup, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_browser.post(
            reverse("admin:matches_tournament_changelist"),
            {"action": "ingest_now", "_selected_action": [cup.pk]},
            follow=True,
        )
    assert response.status_code == 200
    execution = Execution.objects.filter(trigger="admin").get()
    assert f"Queued ingestion #{execution.pk}" in response.content.decode()
    assert (execution.status, execution.triggered_by, execution.operation) == ("completed", staff, "full")


def test_ingest_now_warns_about_a_tournament_without_a_data_source(staff_browser):
    tournament = TournamentFactory(name="Bare Cup")
    response = staff_browser.post(
        reverse("admin:matches_tournament_changelist"),
        {"action": "ingest_now", "_selected_action": [tournament.pk]},
        follow=True,
    )
    assert "Bare Cup has no data source" in response.content.decode()
    assert not Execution.objects.exists()


def test_a_failed_execution_shows_in_the_admin_and_retry_runs_it_again(
    staff_browser, http_server, fast_http, django_capture_on_commit_callbacks
):
    url = http_server.script("/cup.json", Answer(500, b'{"error": "boom"}'))
    failed = ingestion_run(provider="openfootball", source=url, tournament_slug="http-cup")
    assert failed.status == Execution.Status.FAILED
    assert "answered HTTP 500 (3 attempts)" in failed.error
    assert not Tournament.objects.filter(slug="http-cup").exists()

    listing = staff_browser.get(reverse("admin:ingestion_execution_changelist") + "?status__exact=failed")
    assert listing.status_code == 200 and f">{failed.pk}<" in listing.content.decode()
    page = staff_browser.get(reverse("admin:ingestion_execution_change", args=[failed.pk]))
    assert page.status_code == 200
    assert "answered HTTP 500" in page.content.decode() and "error" in page.content.decode()

    http_server.script("/cup.json", SMALL_CUP)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_browser.post(
            reverse("admin:ingestion_execution_changelist"),
            {"action": "retry", "_selected_action": [failed.pk]},
            follow=True,
        )

    retry = Execution.objects.get(retry_of=failed)
    assert f"Queued execution #{retry.pk} (retry of #{failed.pk})" in response.content.decode()
    assert retry.status == Execution.Status.COMPLETED, retry.error
    assert (retry.trigger, retry.tournament.slug) == ("admin", "http-cup")
    assert Match.objects.filter(tournament__slug="http-cup").count() == 1


def test_retry_refuses_an_execution_that_did_not_fail(staff_browser, cup):
    done = Execution.objects.get(tournament=cup)
    response = staff_browser.post(
        reverse("admin:ingestion_execution_changelist"), {"action": "retry", "_selected_action": [done.pk]}, follow=True
    )
    assert "only failed or cancelled ones can be retried" in response.content.decode()
    assert not Execution.objects.filter(retry_of=done).exists()


def test_executions_are_read_only_in_the_admin(staff_browser, cup):
    execution = Execution.objects.get(tournament=cup)
    assert staff_browser.get(reverse("admin:ingestion_execution_add")).status_code == 403
    response = staff_browser.post(reverse("admin:ingestion_execution_change", args=[execution.pk]), {"status": "failed"})
    assert response.status_code == 403
    execution.refresh_from_db()
    assert execution.status == "completed"
    page = staff_browser.get(reverse("admin:ingestion_execution_change", args=[execution.pk])).content.decode()
    assert "fetched" in page and "upserted" in page


def test_cancel_stops_a_queued_execution_before_a_worker_claims_it(staff_browser, cup):
    from apps.ingestion.services import execution_run

    queued = Execution.objects.create(provider="openfootball", source="cup.json", tournament=cup)
    staff_browser.post(
        reverse("admin:ingestion_execution_changelist"), {"action": "cancel", "_selected_action": [queued.pk]}
    )
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    assert execution_run(execution_id=queued.pk).status == "cancelled"
    assert queued.steps.count() == 0
