"""Score actions: a server-side catalogue, idempotent keys, limits per period, points on the boards."""

import uuid
from datetime import UTC, datetime

import pytest

from apps.leaderboards.models import ScoreAction, ScoreActionAward, Standing
from apps.leaderboards.boards.selectors import leaderboard_page
from apps.leaderboards.settlement.verify import standings_verify
from apps.leaderboards.settlement.actions import period_bounds
from apps.leaderboards.boards.projection_write import projection_rebuild
from tests.common.api import assert_error, member_client
from tests.factories import MemberFactory, TournamentFactory

from .helpers import finish, guesses, match_in, players

pytestmark = pytest.mark.django_db


@pytest.fixture
def quiz():
    tournament = TournamentFactory()
    members = players(tournament, 3)
    projection_rebuild(tournament_id=tournament.id)
    ScoreAction.objects.create(tournament=tournament, code="daily_quiz", name="Daily quiz", points=1, limit=1)
    ScoreAction.objects.create(
        tournament=tournament, code="share", name="Share a prediction", points=3, limit=2, period="week"
    )
    return tournament, members


def _post(member, tournament, code, key, capture):
    with capture(execute=True):
        return member_client(member).post(
            f"/api/v1/tournaments/{tournament.id}/actions/{code}", {"idempotency_key": str(key)}, format="json"
        )


def test_the_catalogue_lists_the_tournaments_actions(quiz):
    tournament, members = quiz
    response = member_client(members[0]).get(f"/api/v1/tournaments/{tournament.id}/actions")
    assert response.status_code == 200
    assert response.json() == [
        {"code": "daily_quiz", "name": "Daily quiz", "points": 1, "limit": 1, "period": "day"},
        {"code": "share", "name": "Share a prediction", "points": 3, "limit": 2, "period": "week"},
    ]


def test_an_action_adds_its_points_once_per_key(quiz, django_capture_on_commit_callbacks):
    tournament, members = quiz
    key = uuid.uuid4()
    first = _post(members[0], tournament, "share", key, django_capture_on_commit_callbacks)
    again = _post(members[0], tournament, "share", key, django_capture_on_commit_callbacks)

    assert (first.status_code, first.json()) == (202, {"status": "accepted"})
    assert (again.status_code, again.json()) == (200, {"status": "accepted"})
    standing = Standing.objects.get(tournament=tournament, member=members[0])
    assert (standing.points, standing.exact_hits, standing.outcome_hits) == (3, 0, 0)
    top = leaderboard_page(board=f"tournament:{tournament.id}", limit=1, offset=0)
    assert top["source"] == "redis" and top["rows"][0]["member"]["id"] == members[0].id
    assert top["rows"][0]["points"] == 3
    assert standings_verify(tournament_id=tournament.id) == []


def test_over_the_limit_answers_429_with_retry_after(quiz, django_capture_on_commit_callbacks):
    tournament, members = quiz
    assert _post(members[1], tournament, "daily_quiz", uuid.uuid4(), django_capture_on_commit_callbacks).status_code == 202
    response = _post(members[1], tournament, "daily_quiz", uuid.uuid4(), django_capture_on_commit_callbacks)
    assert_error(response, 429, "action_limit")
    assert 0 < int(response["Retry-After"]) <= 86_400
    # Another member has their own allowance.
    assert _post(members[2], tournament, "daily_quiz", uuid.uuid4(), django_capture_on_commit_callbacks).status_code == 202
    assert ScoreActionAward.objects.filter(member=members[1]).count() == 1


def test_action_points_add_to_settled_points_without_hits(quiz, django_capture_on_commit_callbacks):
    tournament, members = quiz
    match = match_in(tournament)
    guesses(match, {members[0]: (1, 0)})
    with django_capture_on_commit_callbacks(execute=True):
        finish(match, 1, 0)
    _post(members[0], tournament, "daily_quiz", uuid.uuid4(), django_capture_on_commit_callbacks)
    standing = Standing.objects.get(tournament=tournament, member=members[0])
    assert (standing.points, standing.exact_hits, standing.outcome_hits) == (5, 1, 1)
    assert standings_verify(tournament_id=tournament.id) == []


def test_actions_need_a_token_a_known_code_a_uuid_and_participation(quiz):
    tournament, members = quiz
    url = f"/api/v1/tournaments/{tournament.id}/actions"
    from tests.common.api import anonymous_client

    assert_error(anonymous_client().get(url), 401)
    assert_error(anonymous_client().post(f"{url}/share", {"idempotency_key": str(uuid.uuid4())}), 401)
    client = member_client(members[0])
    assert_error(client.post(f"{url}/nope", {"idempotency_key": str(uuid.uuid4())}, format="json"), 404)
    assert "idempotency_key" in client.post(f"{url}/share", {"idempotency_key": "x"}, format="json").json()
    outsider = member_client(MemberFactory())
    assert_error(
        outsider.post(f"{url}/share", {"idempotency_key": str(uuid.uuid4())}, format="json"), 403, "not_participating"
    )


def test_periods_are_utc_days_weeks_from_monday_and_the_whole_tournament():
    tournament = TournamentFactory()
    wednesday = datetime(2030, 6, 12, 15, 30, tzinfo=UTC)
    assert period_bounds(period="day", now=wednesday, tournament=tournament) == (
        datetime(2030, 6, 12, tzinfo=UTC),
        datetime(2030, 6, 13, tzinfo=UTC),
    )
    assert period_bounds(period="week", now=wednesday, tournament=tournament)[0] == datetime(2030, 6, 10, tzinfo=UTC)
    assert period_bounds(period="tournament", now=wednesday, tournament=tournament) == (None, tournament.ends_at)


@pytest.mark.parametrize("ended", ["finished", "past_end"])
def test_actions_after_the_tournament_ended_answer_409_and_award_nothing(
    quiz, ended, django_capture_on_commit_callbacks
):
    tournament, members = quiz
    if ended == "finished":
        tournament.status = tournament.Status.FINISHED
    else:
        tournament.starts_at, tournament.ends_at = datetime(2019, 12, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)
    tournament.save()
    response = _post(members[0], tournament, "daily_quiz", uuid.uuid4(), django_capture_on_commit_callbacks)
    assert_error(response, 409, "tournament_over")
    assert not ScoreActionAward.objects.filter(member=members[0]).exists()
