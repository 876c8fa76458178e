from datetime import timedelta

import pytest
from django.utils import timezone

from apps.guesses.models import Guess
from apps.leaderboards.models import SettlementRequest, Standing
from apps.matches.services import match_settled_mark
from apps.matches.models import Match, Participation
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import GuessFactory, MatchFactory, MemberFactory, RoundFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def _guess_url(match) -> str:
    return f"/api/v1/matches/{match.id}/guess"


def _settle(match, *, status=SettlementRequest.Status.DONE, kind=SettlementRequest.Kind.SETTLE, version=None):
    """A settlement request in `status`; a done settle marks the match as settlement does when it finishes."""
    version = match.result_version if version is None else version
    request = SettlementRequest.objects.create(
        match=match, result_version=version, kind=kind, status=status,
        idempotency_key=f"settlement:{match.id}:{version}:{kind}",
    )  # fmt: skip
    if status == SettlementRequest.Status.DONE:
        _done(request)
    return request


def _done(request):
    SettlementRequest.objects.filter(pk=request.pk).update(status=SettlementRequest.Status.DONE)
    if request.kind == SettlementRequest.Kind.SETTLE:
        match_settled_mark(match_id=request.match_id, result_version=request.result_version)


def _finish(match, home: int, away: int, *, version: int = 1):
    Match.objects.filter(pk=match.pk).update(
        status=Match.Status.FINISHED, home_score=home, away_score=away, result_version=version
    )
    match.refresh_from_db()
    return match


def test_a_first_guess_answers_201_and_joins_the_tournament():
    match, member = MatchFactory(), MemberFactory()
    response = member_client(member).put(_guess_url(match), {"home_goals": 2, "away_goals": 1}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"match", "home_goals", "away_goals", "joker", "points", "provisional", "updated_at"}
    assert (body["match"], body["home_goals"], body["away_goals"], body["points"]) == (match.id, 2, 1, None)
    assert Participation.objects.filter(member=member, tournament=match.tournament).exists()
    assert Standing.objects.filter(member=member, tournament=match.tournament).exists()


def test_changing_a_guess_answers_200_and_keeps_one_row():
    match, member = MatchFactory(), MemberFactory()
    client = member_client(member)
    client.put(_guess_url(match), {"home_goals": 2, "away_goals": 1}, format="json")
    response = client.put(_guess_url(match), {"home_goals": 0, "away_goals": 0}, format="json")
    assert response.status_code == 200
    assert (response.json()["home_goals"], response.json()["away_goals"]) == (0, 0)
    assert Guess.objects.filter(match=match, member=member).count() == 1


def test_guessing_needs_a_token():
    match = MatchFactory()
    assert_error(anonymous_client().put(_guess_url(match), {"home_goals": 1, "away_goals": 1}, format="json"), 401)
    assert_error(anonymous_client().get(_guess_url(match)), 401)
    assert_error(anonymous_client().get(f"/api/v1/matches/{match.id}/guesses"), 401)
    assert_error(anonymous_client().get("/api/v1/me/guesses"), 401)


@pytest.mark.parametrize(
    "body",
    [
        {"home_goals": -1, "away_goals": 0},
        {"home_goals": 100, "away_goals": 0},
        {"home_goals": 1.5, "away_goals": 0},
        {"home_goals": 1.0, "away_goals": 0},
        {"home_goals": "two", "away_goals": 0},
        {"home_goals": "1", "away_goals": 0},
        {"home_goals": True, "away_goals": 0},
        {"home_goals": None, "away_goals": 0},
        {"home_goals": [1], "away_goals": 0},
        {"away_goals": 0},
    ],
)
def test_a_guess_outside_whole_numbers_0_to_99_answers_a_field_map(body):
    match = MatchFactory()
    response = member_client(MemberFactory()).put(_guess_url(match), body, format="json")
    assert response.status_code == 400
    assert "home_goals" in response.json()
    assert not Guess.objects.exists()


def test_the_bounds_0_and_99_are_accepted():
    response = member_client(MemberFactory()).put(
        _guess_url(MatchFactory()), {"home_goals": 0, "away_goals": 99}, format="json"
    )
    assert response.status_code == 201


def test_a_malformed_json_guess_answers_400():
    response = member_client(MemberFactory()).put(
        _guess_url(MatchFactory()), data='{"home_goals": ', content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


def test_guessing_after_kickoff_answers_409_match_locked():
    match = MatchFactory(kickoff_at=timezone.now() - timedelta(minutes=1))
    response = member_client(MemberFactory()).put(_guess_url(match), {"home_goals": 1, "away_goals": 0}, format="json")
    assert_error(response, 409, "match_locked")
    assert not Guess.objects.exists()


def test_guessing_inside_lock_minutes_answers_409_match_locked():
    tournament = TournamentFactory(lock_minutes=60)
    match = MatchFactory(tournament=tournament, kickoff_at=timezone.now() + timedelta(minutes=59))
    response = member_client(MemberFactory()).put(_guess_url(match), {"home_goals": 1, "away_goals": 0}, format="json")
    assert_error(response, 409, "match_locked")


def test_changing_a_guess_once_locked_answers_409_and_keeps_the_guess():
    match = MatchFactory()
    guess = GuessFactory(match=match, home_goals=3, away_goals=3)
    Match.objects.filter(pk=match.pk).update(status=Match.Status.LIVE)
    response = member_client(guess.member).put(_guess_url(match), {"home_goals": 0, "away_goals": 0}, format="json")
    assert_error(response, 409, "match_locked")
    guess.refresh_from_db()
    assert (guess.home_goals, guess.away_goals) == (3, 3)


def test_a_postponed_match_is_locked_and_reopens_with_its_new_kickoff():
    match = MatchFactory(status=Match.Status.POSTPONED)
    client = member_client(MemberFactory())
    assert_error(client.put(_guess_url(match), {"home_goals": 1, "away_goals": 0}, format="json"), 409, "match_locked")
    Match.objects.filter(pk=match.pk).update(
        status=Match.Status.SCHEDULED, kickoff_at=timezone.now() + timedelta(days=7)
    )
    assert client.put(_guess_url(match), {"home_goals": 1, "away_goals": 0}, format="json").status_code == 201


def test_guessing_on_an_unknown_match_answers_404():
    client = member_client(MemberFactory())
    assert_error(client.put("/api/v1/matches/777777/guess", {"home_goals": 1, "away_goals": 0}, format="json"), 404)
    assert_error(client.get("/api/v1/matches/777777/guess"), 404, "match_not_found")
    assert_error(client.get("/api/v1/matches/777777/guesses"), 404, "match_not_found")


def test_reading_my_guess_returns_it_and_404_when_there_is_none():
    guess = GuessFactory(home_goals=2, away_goals=2)
    client = member_client(guess.member)
    response = client.get(_guess_url(guess.match))
    assert response.status_code == 200
    assert (response.json()["home_goals"], response.json()["away_goals"]) == (2, 2)
    other = member_client(MemberFactory())
    assert_error(other.get(_guess_url(guess.match)), 404, "guess_not_found")


def test_points_stay_null_until_the_current_result_is_settled():
    guess = GuessFactory(home_goals=2, away_goals=1)
    match = _finish(guess.match, 2, 1)
    client = member_client(guess.member)
    assert client.get(_guess_url(match)).json()["points"] is None

    pending = _settle(match, status=SettlementRequest.Status.PENDING)
    assert client.get(_guess_url(match)).json()["points"] is None

    _done(pending)
    assert client.get(_guess_url(match)).json()["points"] == 4


def test_a_corrected_result_hides_points_until_it_is_settled_again():
    guess = GuessFactory(home_goals=2, away_goals=1)
    match = _finish(guess.match, 2, 1, version=1)
    _settle(match)
    client = member_client(guess.member)
    assert client.get(_guess_url(match)).json()["points"] == 4

    match = _finish(match, 3, 1, version=2)
    assert client.get(_guess_url(match)).json()["points"] is None
    _settle(match)
    assert client.get(_guess_url(match)).json()["points"] == 2


def test_points_use_the_tournament_settings_and_the_round_multiplier():
    tournament = TournamentFactory(points_exact=10, points_goal_difference=5, points_outcome=1)
    final = RoundFactory(tournament=tournament, multiplier=3)
    match = MatchFactory(tournament=tournament, round=final)
    guess = GuessFactory(match=match, home_goals=3, away_goals=2)
    _settle(_finish(match, 2, 1))
    assert member_client(guess.member).get(_guess_url(match)).json()["points"] == 15


def test_a_cancelled_match_shows_no_points_even_if_it_was_settled():
    guess = GuessFactory(home_goals=1, away_goals=0)
    match = _finish(guess.match, 1, 0)
    _settle(match)
    Match.objects.filter(pk=match.pk).update(status=Match.Status.CANCELLED)
    assert member_client(guess.member).get(_guess_url(match)).json()["points"] is None


def test_my_guesses_lists_only_mine_with_filters_and_points():
    member = MemberFactory()
    tournament = TournamentFactory()
    group, final = RoundFactory(tournament=tournament), RoundFactory(tournament=tournament)
    first = GuessFactory(
        member=member, match=MatchFactory(tournament=tournament, round=group), home_goals=1, away_goals=0
    )
    second = GuessFactory(member=member, match=MatchFactory(tournament=tournament, round=final))
    elsewhere = GuessFactory(member=member)
    GuessFactory(match=first.match)  # someone else's
    _settle(_finish(first.match, 1, 0))
    client = member_client(member)

    body = client.get("/api/v1/me/guesses").json()
    assert body["count"] == 3
    assert {row["match"] for row in body["results"]} == {first.match_id, second.match_id, elsewhere.match_id}
    by_match = {row["match"]: row for row in body["results"]}
    assert by_match[first.match_id]["points"] == 4 and by_match[second.match_id]["points"] is None

    only_tournament = client.get(f"/api/v1/me/guesses?tournament={tournament.id}").json()
    assert {row["match"] for row in only_tournament["results"]} == {first.match_id, second.match_id}
    only_final = client.get(f"/api/v1/me/guesses?round={final.id}").json()
    assert [row["match"] for row in only_final["results"]] == [second.match_id]


@pytest.mark.parametrize("query", ["?tournament=x", "?round=-3", "?tournament=1.5"])
def test_my_guesses_with_a_bad_filter_answers_a_field_map(query):
    response = member_client(MemberFactory()).get(f"/api/v1/me/guesses{query}")
    assert response.status_code == 400
    assert set(response.json()) <= {"tournament", "round"}


def test_my_guesses_reads_a_page_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    member = MemberFactory()
    tournament = TournamentFactory()
    for _ in range(8):
        guess = GuessFactory(member=member, match=MatchFactory(tournament=tournament))
        _settle(_finish(guess.match, 1, 0))
    client = member_client(member)
    # member lookup from the token + count + page
    with django_assert_max_num_queries(3):
        body = client.get("/api/v1/me/guesses").json()
    assert body["count"] == 8 and all(row["points"] == 4 for row in body["results"])


def test_others_guesses_are_hidden_until_the_match_locks():
    match = MatchFactory()
    GuessFactory(match=match)
    viewer = member_client(MemberFactory())
    assert_error(viewer.get(f"/api/v1/matches/{match.id}/guesses"), 403, "match_not_locked")

    Match.objects.filter(pk=match.pk).update(kickoff_at=timezone.now() - timedelta(seconds=1))
    response = viewer.get(f"/api/v1/matches/{match.id}/guesses")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_others_guesses_are_hidden_before_lock_minutes_and_shown_inside_them():
    tournament = TournamentFactory(lock_minutes=30)
    before = MatchFactory(tournament=tournament, kickoff_at=timezone.now() + timedelta(minutes=31))
    inside = MatchFactory(tournament=tournament, kickoff_at=timezone.now() + timedelta(minutes=29))
    viewer = member_client(MemberFactory())
    assert_error(viewer.get(f"/api/v1/matches/{before.id}/guesses"), 403, "match_not_locked")
    assert viewer.get(f"/api/v1/matches/{inside.id}/guesses").status_code == 200


def test_match_guesses_list_members_by_id_with_points_and_pages():
    match = MatchFactory()
    members = MemberFactory.create_batch(3)
    GuessFactory(match=match, member=members[2], home_goals=2, away_goals=1)
    GuessFactory(match=match, member=members[0], home_goals=1, away_goals=0)
    GuessFactory(match=match, member=members[1], home_goals=0, away_goals=1)
    _settle(_finish(match, 1, 0))
    viewer = member_client(members[0])

    body = viewer.get(f"/api/v1/matches/{match.id}/guesses?limit=2").json()
    assert body["count"] == 3 and body["next"]
    first_page = body["results"]
    assert [row["member"]["id"] for row in first_page] == [members[0].id, members[1].id]
    assert first_page[0]["member"] == {"id": members[0].id, "display_name": members[0].display_name}
    assert [row["points"] for row in first_page] == [4, 0]
    rest = viewer.get(f"/api/v1/matches/{match.id}/guesses?limit=2&offset=2").json()["results"]
    assert [(row["member"]["id"], row["points"]) for row in rest] == [(members[2].id, 3)]


def test_a_form_encoded_guess_answers_415():
    response = member_client(MemberFactory()).put(
        _guess_url(MatchFactory()), data="home_goals=1&away_goals=0", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")
