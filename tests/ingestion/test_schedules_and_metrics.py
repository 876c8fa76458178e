from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler
from prometheus_client import REGISTRY

from apps.ingestion.models import Execution
from apps.ingestion.services import ingestion_run
from apps.ingestion.tasks import ingestion_poll_fixtures, ingestion_poll_live
from apps.matches.models import Match
from scoreboard.celery import app as celery_app
from tests.factories import MemberFactory

from .conftest import Answer, write_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def cup_file(tmp_path):
    """A one-match file per tournament: one provider competition feeds one tournament."""

    def make(slug):
        return str(write_json(tmp_path / f"{slug}.json", {"name": f"Cup {slug}", "matches": [
            {"round": "Final", "num": 1, "date": "2022-12-18", "time": "18:00 UTC", "team1": "Argentina",
             "team2": "France", "score": {"ft": [2, 2]}},
        ]}))

    return make


def _cup(cup_file, slug, provider="openfootball", operation="fixtures"):
    execution = ingestion_run(provider=provider, source=cup_file(slug), tournament_slug=slug, operation=operation)
    assert execution.status == Execution.Status.COMPLETED, execution.error
    return execution.tournament


def _kick_off_now(tournament):
    match = Match.objects.filter(tournament=tournament).order_by("kickoff_at").first()
    match.kickoff_at = timezone.now() - timedelta(minutes=10)
    match.save(update_fields=["kickoff_at"])
    return match


def test_the_live_poll_queues_results_for_tournaments_with_a_match_under_way(
    cup_file, django_capture_on_commit_callbacks
):
    playing, idle, replay = _cup(cup_file, "playing"), _cup(cup_file, "idle"), _cup(cup_file, "replayed", provider="replay")
    _kick_off_now(playing)
    _kick_off_now(replay)

    with django_capture_on_commit_callbacks(execute=True):
        queued = ingestion_poll_live.delay().get()

    execution = Execution.objects.get(pk__in=queued)
    assert (execution.tournament, execution.operation, execution.trigger) == (playing, "results", "schedule")
    assert execution.status == Execution.Status.COMPLETED
    assert not Execution.objects.filter(trigger="schedule").exclude(tournament=playing).exists()
    assert idle.pk and replay.pk


def test_the_live_poll_asks_only_for_tournaments_with_a_match_in_play(cup_file, django_capture_on_commit_callbacks):
    now = timezone.now()
    cases = {
        # slug: (status, kickoff relative to now, polled)
        "live": ("live", -timedelta(minutes=50), True),
        "kicked-off": ("scheduled", -timedelta(seconds=20), True),
        "late-report": ("scheduled", -timedelta(hours=2, minutes=50), True),
        "upcoming": ("scheduled", timedelta(minutes=3), False),
        "forgotten": ("scheduled", -timedelta(hours=3, minutes=10), False),
        "over": ("finished", -timedelta(hours=1), False),
        "put-off": ("postponed", -timedelta(minutes=30), False),
    }
    tournaments = {}
    for slug, (status, offset, _) in cases.items():
        tournaments[slug] = _cup(cup_file, slug)
        scores = {"home_score": 1, "away_score": 0} if status in ("live", "finished") else {}
        Match.objects.filter(tournament=tournaments[slug]).update(status=status, kickoff_at=now + offset, **scores)

    with django_capture_on_commit_callbacks(execute=False):
        queued = ingestion_poll_live.delay().get()

    polled = set(Execution.objects.filter(pk__in=queued).values_list("tournament__slug", flat=True))
    assert polled == {slug for slug, (_, _, wanted) in cases.items() if wanted}
    assert set(Execution.objects.filter(pk__in=queued).values_list("operation", flat=True)) == {"results"}


def test_a_poll_skips_a_tournament_whose_previous_poll_is_still_waiting(cup_file, django_capture_on_commit_callbacks):
    _kick_off_now(_cup(cup_file, "playing"))
    with django_capture_on_commit_callbacks(execute=False):
        first = ingestion_poll_live.delay().get()
        second = ingestion_poll_live.delay().get()
    assert len(first) == 1 and second == []


def test_the_fixtures_poll_covers_every_unfinished_tournament_but_replays(cup_file, django_capture_on_commit_callbacks):
    upcoming = _cup(cup_file, "upcoming")
    _cup(cup_file, "done", operation="full")  # every result in: finished
    _cup(cup_file, "replayed", provider="replay")

    with django_capture_on_commit_callbacks(execute=False):
        queued = ingestion_poll_fixtures.delay().get()

    assert [e.tournament for e in Execution.objects.filter(pk__in=queued)] == [upcoming]
    assert Execution.objects.get(pk__in=queued).operation == "fixtures"


def test_beat_installs_the_polls_as_periodic_tasks_editable_in_the_admin(monkeypatch):
    # Beat drops stale connections between ticks; here that would be the test's own transaction.
    monkeypatch.setattr("django_celery_beat.schedulers.close_old_connections", lambda: None)
    DatabaseScheduler(app=celery_app)

    live = PeriodicTask.objects.get(name="ingestion-poll-live")
    fixtures = PeriodicTask.objects.get(name="ingestion-poll-fixtures")
    assert live.task == "apps.ingestion.tasks.ingestion_poll_live" and live.queue == "ingestion"
    assert (live.interval.every, live.interval.period) == (15, "seconds")
    assert live.expire_seconds == 15  # a poll not picked up before the next one is dropped
    assert fixtures.interval.every * {"seconds": 1, "minutes": 60, "hours": 3600}[fixtures.interval.period] == 6 * 3600

    browser = Client()
    browser.force_login(MemberFactory(is_staff=True, is_superuser=True))
    page = browser.get(reverse("admin:django_celery_beat_periodictask_change", args=[live.pk]))
    assert page.status_code == 200 and "ingestion_poll_live" in page.content.decode()


def _sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_executions_by_outcome_and_time_provider_calls(cup_file, http_server, fast_http):
    completed = _sample("scoreboard_ingestion_executions_total", provider="openfootball", outcome="completed")
    failed = _sample("scoreboard_ingestion_executions_total", provider="openfootball", outcome="failed")
    durations = _sample("scoreboard_ingestion_execution_duration_seconds_count", provider="openfootball")
    calls = _sample("scoreboard_ingestion_provider_http_seconds_count", provider="openfootball")
    errors = _sample("scoreboard_ingestion_provider_http_errors_total", provider="openfootball", reason="500")

    _cup(cup_file, "counted")
    url = http_server.script("/cup.json", Answer(500))
    ingestion_run(provider="openfootball", source=url, tournament_slug="broken")

    assert _sample("scoreboard_ingestion_executions_total", provider="openfootball", outcome="completed") == completed + 1
    assert _sample("scoreboard_ingestion_executions_total", provider="openfootball", outcome="failed") == failed + 1
    assert _sample("scoreboard_ingestion_execution_duration_seconds_count", provider="openfootball") == durations + 2
    assert _sample("scoreboard_ingestion_provider_http_seconds_count", provider="openfootball") == calls + 3
    assert _sample("scoreboard_ingestion_provider_http_errors_total", provider="openfootball", reason="500") == errors + 3


def test_the_metrics_endpoint_exposes_each_ingestion_metric_once():
    body = Client().get("/metrics").content.decode()
    for name in (
        "scoreboard_ingestion_executions_total",
        "scoreboard_ingestion_execution_duration_seconds",
        "scoreboard_ingestion_provider_http_seconds",
        "scoreboard_ingestion_provider_http_errors_total",
    ):
        assert body.count(f"# HELP {name} ") == 1, name
