"""Staff set results by hand: the same rule as ingestion, standings move by the difference (SCORING.md)."""

import pytest

from apps.common.errors import ApplicationError, NotFound
from apps.leaderboards.models import SettlementRequest
from apps.leaderboards.settlement.verify import standings_verify
from apps.matches.models import Match
from apps.matches.services import match_result_correct
from tests.common.api import member_client
from tests.factories import TournamentFactory
from tests.leaderboards.helpers import expected_totals, finish, guesses, match_in, players, round_standings, standings

from .admin_forms import page_messages, submit_change_form

pytestmark = pytest.mark.django_db


def _requests(match) -> list[tuple]:
    return list(
        SettlementRequest.objects.filter(match=match).order_by("id").values_list("kind", "result_version", "status")
    )


def test_a_result_corrected_by_hand_moves_standings_by_the_difference(cup, django_capture_on_commit_callbacks):
    tournament, match, members = cup
    before = {m.id: standings(tournament).get(m.id, (0, 0, 0))[0] for m in members}

    with django_capture_on_commit_callbacks(execute=True):
        correction = match_result_correct(match_id=match.id, home_score=1, away_score=1)

    assert correction.kind == "settle" and correction.match.result_version == 2
    assert _requests(match) == [("settle", 1, "done"), ("settle", 2, "done")]
    expected = expected_totals([(match, (1, 1))])
    assert standings(tournament) == expected
    assert round_standings(match.round) == expected
    # 1-1 and 0-0 and 2-2 hit the draw; the 2-1 exact guesses drop to nothing.
    moved = {m.id: expected.get(m.id, (0, 0, 0))[0] - before[m.id] for m in members}
    assert sorted(moved.values()) == [-4, -4, -3, -3, -2, 0, 0, 2, 2, 4]
    assert standings_verify(tournament_id=tournament.id) == []


def test_cancelling_a_settled_match_by_hand_takes_its_points_back(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    assert standings(tournament)

    with django_capture_on_commit_callbacks(execute=True):
        correction = match_result_correct(match_id=match.id, home_score=None, away_score=None, status="cancelled")

    assert correction.kind == "reverse"
    assert _requests(match) == [("settle", 1, "done"), ("reverse", 2, "done")]
    assert standings(tournament) == {} and round_standings(match.round) == {}
    assert standings_verify(tournament_id=tournament.id) == []


def test_abandoning_a_settled_match_keeping_its_score_still_reverses_it(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    with django_capture_on_commit_callbacks(execute=True):
        correction = match_result_correct(match_id=match.id, home_score=2, away_score=1, status="abandoned")
    assert correction.kind == "reverse"
    assert standings(tournament) == {}
    assert standings_verify(tournament_id=tournament.id) == []


def test_a_match_the_provider_never_finished_is_settled_by_hand(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 3)
    match = match_in(tournament)
    guesses(match, {members[0]: (3, 0), members[1]: (1, 0), members[2]: (0, 1)})

    with django_capture_on_commit_callbacks(execute=True):
        correction = match_result_correct(match_id=match.id, home_score=3, away_score=0)

    assert correction.kind == "settle" and correction.match.status == "finished"
    assert _requests(match) == [("settle", 1, "done")]
    assert standings(tournament) == {members[0].id: (4, 1, 1), members[1].id: (2, 0, 1)}
    assert standings_verify(tournament_id=tournament.id) == []


def test_setting_the_same_result_again_writes_no_request(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    before = standings(tournament)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        correction = match_result_correct(match_id=match.id, home_score=2, away_score=1)
    assert correction.kind is None and callbacks == []
    assert _requests(match) == [("settle", 1, "done")]
    assert standings(tournament) == before


def test_a_penalty_shootout_set_by_hand_settles_nothing(cup):
    _, match, _ = cup
    correction = match_result_correct(
        match_id=match.id, home_score=2, away_score=1, home_penalties=5, away_penalties=4
    )
    assert correction.kind is None
    assert Match.objects.get(pk=match.pk).home_penalties == 5
    assert _requests(match) == [("settle", 1, "done")]


def test_an_extra_time_score_set_by_hand_re_settles_a_tournament_that_counts_it(django_capture_on_commit_callbacks):
    tournament = TournamentFactory(counted_result="extra_time")
    members = players(tournament, 2)
    match = match_in(tournament)
    guesses(match, {members[0]: (1, 1), members[1]: (2, 1)})
    with django_capture_on_commit_callbacks(execute=True):
        finish(match, 1, 1)
    assert standings(tournament) == {members[0].id: (4, 1, 1)}

    with django_capture_on_commit_callbacks(execute=True):
        match_result_correct(match_id=match.id, home_score=1, away_score=1, home_score_et=2, away_score_et=1)

    assert standings(tournament) == {members[1].id: (4, 1, 1)}
    assert standings_verify(tournament_id=tournament.id) == []


@pytest.mark.parametrize(
    "result",
    [
        {"home_score": 1, "away_score": None},
        {"home_score": None, "away_score": None},  # finished without a score
        {"home_score": 1, "away_score": 1, "home_score_et": 2},
        {"home_score": 1, "away_score": 1, "home_penalties": 4, "away_penalties": None},
        {"home_score": -1, "away_score": 0},
        {"home_score": 1, "away_score": 0, "status": "over"},
    ],
)
def test_a_result_staff_could_not_mean_is_refused_and_changes_nothing(cup, result):
    _, match, _ = cup
    with pytest.raises(ApplicationError) as refused:
        match_result_correct(match_id=match.id, **result)
    assert refused.value.code == "invalid_result"
    fresh = Match.objects.get(pk=match.pk)
    assert (fresh.status, fresh.home_score, fresh.away_score, fresh.result_version) == ("finished", 2, 1, 1)


def test_correcting_an_unknown_match_is_not_found():
    with pytest.raises(NotFound):
        match_result_correct(match_id=987654321, home_score=1, away_score=0)


def test_my_guesses_show_the_points_of_the_corrected_result(cup, django_capture_on_commit_callbacks):
    tournament, match, members = cup
    client = member_client(members[3])  # guessed 1-1
    url = f"/api/v1/me/guesses?tournament={tournament.id}"
    assert client.get(url).json()["results"][0]["points"] == 0

    with django_capture_on_commit_callbacks(execute=True):
        match_result_correct(match_id=match.id, home_score=1, away_score=1)
    assert client.get(url).json()["results"][0]["points"] == 4

    with django_capture_on_commit_callbacks(execute=True):
        match_result_correct(match_id=match.id, home_score=None, away_score=None, status="cancelled")
    assert client.get(url).json()["results"][0]["points"] is None


# --- the admin ---------------------------------------------------------------------


def test_staff_correct_a_result_in_the_admin_and_standings_follow(
    admin_client, cup, django_capture_on_commit_callbacks
):
    tournament, match, _ = cup
    url = f"/admin/matches/match/{match.id}/change/"

    with django_capture_on_commit_callbacks(execute=True):
        response = submit_change_form(admin_client, url, home_score=0, away_score=0)

    assert response.status_code == 200
    assert "Result saved: the match will be settled at this result; standings move by the difference." in (
        page_messages(response)
    )
    assert _requests(match) == [("settle", 1, "done"), ("settle", 2, "done")]
    assert standings(tournament) == expected_totals([(match, (0, 0))])
    assert standings_verify(tournament_id=tournament.id) == []


def test_staff_cancel_a_settled_match_in_the_admin_and_its_points_leave(
    admin_client, cup, django_capture_on_commit_callbacks
):
    tournament, match, _ = cup
    with django_capture_on_commit_callbacks(execute=True):
        response = submit_change_form(
            admin_client,
            f"/admin/matches/match/{match.id}/change/",
            status="cancelled",
            home_score=None,
            away_score=None,
        )
    assert "Result saved: the match's points will be taken back from every standing." in page_messages(response)
    assert standings(tournament) == {}
    assert standings_verify(tournament_id=tournament.id) == []


def test_staff_move_a_kickoff_in_the_admin_and_nothing_is_re_settled(admin_client, cup):
    _, match, _ = cup
    response = submit_change_form(
        admin_client, f"/admin/matches/match/{match.id}/change/", kickoff_at_0="2031-01-02", kickoff_at_1="20:00:00"
    )
    assert response.status_code == 200 and page_messages(response) != []
    assert Match.objects.get(pk=match.pk).kickoff_at.isoformat().startswith("2031-01-02T")
    assert _requests(match) == [("settle", 1, "done")]


def test_a_finished_match_without_a_score_in_the_admin_shows_a_form_error(admin_client, cup):
    _, match, _ = cup
    url = f"/admin/matches/match/{match.id}/change/"
    response = submit_change_form(admin_client, url, home_score=None, away_score=None)
    assert "A finished match needs its regular-time score." in response.content.decode()
    assert Match.objects.get(pk=match.pk).home_score == 2
    assert _requests(match) == [("settle", 1, "done")]


def test_staff_add_a_finished_match_in_the_admin_and_it_is_settled(
    admin_client, cup, django_capture_on_commit_callbacks
):
    tournament, match, _ = cup
    data = {
        "tournament": tournament.id,
        "round": match.round_id,
        "home_team": match.away_team_id,
        "away_team": match.home_team_id,
        "kickoff_at_0": "2030-07-01",
        "kickoff_at_1": "18:00:00",
        "status": "finished",
        "home_score": 1,
        "away_score": 0,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/matches/match/add/", data, follow=True)
    assert response.status_code == 200, response.content
    added = Match.objects.exclude(pk=match.pk).get(tournament=tournament)
    assert added.result_version == 1
    assert _requests(added) == [("settle", 1, "done")]
