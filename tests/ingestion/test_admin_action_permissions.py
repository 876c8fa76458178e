"""Admin actions that start or stop work need the change permission; viewing the list is not enough."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from apps.ingestion.models import DataSource, Execution
from apps.leaderboards.models import SettlementRequest
from tests.factories import MatchFactory, MemberFactory, TournamentFactory

pytestmark = pytest.mark.django_db

TOURNAMENTS = "admin:matches_tournament_changelist"
EXECUTIONS = "admin:ingestion_execution_changelist"
SETTLEMENTS = "admin:leaderboards_settlementrequest_changelist"
# (page, action, model whose permission counts, the row it is tried on)
ACTIONS = [
    (TOURNAMENTS, "ingest_now", "tournament", "tournament"),
    (EXECUTIONS, "retry", "execution", "failed"),
    (EXECUTIONS, "cancel", "execution", "queued"),
    (SETTLEMENTS, "retry", "settlementrequest", "settlement"),
    (SETTLEMENTS, "settle_again", "settlementrequest", "settlement"),
]


def _staff_with(*codenames: str) -> Client:
    member = MemberFactory(is_staff=True)
    member.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    browser = Client()
    browser.force_login(member)
    return browser


@pytest.fixture
def rows():
    tournament = TournamentFactory()
    DataSource.objects.create(tournament=tournament, provider="openfootball", source="openfootball/cup.json")
    queued = Execution.objects.create(provider="openfootball", source="cup.json", tournament=tournament)
    failed = Execution.objects.create(
        provider="openfootball", source="cup.json", tournament=tournament, status=Execution.Status.FAILED
    )
    match = MatchFactory(tournament=tournament)
    settlement = SettlementRequest.objects.create(
        match=match, result_version=1, idempotency_key="settlement:x:1", status=SettlementRequest.Status.FAILED
    )
    return {"tournament": tournament, "queued": queued, "failed": failed, "settlement": settlement}


def _action_choices(browser: Client, page: str) -> str:
    response = browser.get(reverse(page))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(("page", "action", "model", "row"), ACTIONS)
def test_staff_who_may_only_view_see_the_list_but_not_the_action(rows, page, action, model, row):
    viewer = _staff_with(f"view_{model}")

    assert f'value="{action}"' not in _action_choices(viewer, page)
    assert f'value="{action}"' in _action_choices(_staff_with(f"view_{model}", f"change_{model}"), page)


def test_a_view_only_post_of_the_actions_changes_nothing(rows, django_capture_on_commit_callbacks):
    viewer = _staff_with("view_tournament", "view_execution", "view_settlementrequest")
    executions = Execution.objects.count()

    with django_capture_on_commit_callbacks(execute=False) as queued_work:
        for page, action, _, row in ACTIONS:
            viewer.post(reverse(page), {"action": action, "_selected_action": [rows[row].pk]})

    assert queued_work == []

    assert Execution.objects.count() == executions
    rows["queued"].refresh_from_db()
    rows["settlement"].refresh_from_db()
    assert rows["queued"].status == Execution.Status.QUEUED
    assert rows["settlement"].status == SettlementRequest.Status.FAILED
    assert SettlementRequest.objects.count() == 1


def test_staff_with_the_change_permission_cancel_a_queued_execution(rows):
    operator = _staff_with("view_execution", "change_execution")

    operator.post(reverse(EXECUTIONS), {"action": "cancel", "_selected_action": [rows["queued"].pk]})

    rows["queued"].refresh_from_db()
    assert rows["queued"].status == Execution.Status.CANCELLED
