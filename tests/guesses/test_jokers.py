"""The joker (SCORING.md "The joker"): doubles a guess's points, `jokers_per_round` per member and round."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.guesses.models import Guess
from apps.leaderboards.models import Standing
from apps.leaderboards.settlement.verify import standings_verify
from apps.matches.models import Match, Tournament
from apps.matches.services import match_result_save, match_result_snapshot, tournament_scoring_update
from tests.common.api import assert_error, member_client
from tests.factories import MatchFactory, MemberFactory, RoundFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def _put(member, match, home=1, away=0, **extra):
    return member_client(member).put(
        f"/api/v1/matches/{match.id}/guess", {"home_goals": home, "away_goals": away, **extra}, format="json"
    )


@pytest.fixture
def round_of_three():
    tournament = TournamentFactory()
    round_ = RoundFactory(tournament=tournament)
    matches = [MatchFactory(tournament=tournament, round=round_) for _ in range(3)]
    return tournament, round_, matches


def _jokers(member, round_) -> set[int]:
    return set(Guess.objects.filter(member=member, match__round=round_, joker=True).values_list("match_id", flat=True))


def test_a_joker_is_set_with_the_guess_and_answers_carry_it(round_of_three):
    _, round_, (first, *_) = round_of_three
    member = MemberFactory()
    response = _put(member, first, joker=True)
    assert response.status_code == 201 and response.json()["joker"] is True
    # Changing the score without naming the joker keeps it; false takes it off.
    assert _put(member, first, 2, 0).json()["joker"] is True
    assert _put(member, first, 2, 0, joker=False).json()["joker"] is False
    assert _jokers(member, round_) == set()


def test_a_second_joker_in_a_round_is_refused_unless_moved(round_of_three):
    _, round_, (first, second, _) = round_of_three
    member = MemberFactory()
    assert _put(member, first, joker=True).status_code == 201
    assert_error(_put(member, second, joker=True), 409, "joker_limit")
    # Refused as a whole: the guess itself was not written either.
    assert not Guess.objects.filter(member=member, match=second).exists()
    assert _put(member, second, joker=True, move_joker=True).status_code == 201
    assert _jokers(member, round_) == {second.id}
    # Another round has its own allowance.
    other_round = MatchFactory(tournament=first.tournament, round=RoundFactory(tournament=first.tournament))
    assert _put(member, other_round, joker=True).status_code == 201


def test_a_locked_match_keeps_its_joker(round_of_three):
    _, round_, (first, second, _) = round_of_three
    member = MemberFactory()
    assert _put(member, first, joker=True).status_code == 201
    Match.objects.filter(pk=first.pk).update(kickoff_at=timezone.now() - timedelta(minutes=1))
    assert_error(_put(member, second, joker=True, move_joker=True), 409, "joker_limit")
    assert_error(_put(member, first, joker=False), 409, "match_locked")
    assert _jokers(member, round_) == {first.id}


def test_no_jokers_when_the_tournament_turns_them_off(round_of_three):
    tournament, _, (first, *_) = round_of_three
    Tournament.objects.filter(pk=tournament.pk).update(jokers_per_round=0)
    assert_error(_put(MemberFactory(), first, joker=True), 409, "joker_limit")


def test_lowering_the_allowance_takes_no_joker_away(round_of_three):
    tournament, round_, (first, second, third) = round_of_three
    tournament_scoring_update(tournament_id=tournament.id, changes={"jokers_per_round": 2})
    member = MemberFactory()
    assert _put(member, first, joker=True).status_code == 201
    assert _put(member, second, joker=True).status_code == 201
    tournament_scoring_update(tournament_id=tournament.id, changes={"jokers_per_round": 1})
    assert _jokers(member, round_) == {first.id, second.id}
    assert_error(_put(member, third, joker=True), 409, "joker_limit")


@pytest.mark.parametrize("value", ["true", 1, None])
def test_a_joker_must_be_a_json_boolean(round_of_three, value):
    _, _, (first, *_) = round_of_three
    response = _put(MemberFactory(), first, joker=value)
    assert response.status_code == 400 and "joker" in response.json()


def test_others_see_jokers_once_the_match_locks(round_of_three):
    _, _, (first, *_) = round_of_three
    member, other = MemberFactory(), MemberFactory()
    _put(member, first, joker=True)
    assert_error(member_client(other).get(f"/api/v1/matches/{first.id}/guesses"), 403, "match_not_locked")
    Match.objects.filter(pk=first.pk).update(kickoff_at=timezone.now() - timedelta(minutes=1))
    rows = member_client(other).get(f"/api/v1/matches/{first.id}/guesses").json()["results"]
    assert [(row["member"]["id"], row["joker"]) for row in rows] == [(member.id, True)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_jokers_on_two_matches_of_a_round_leave_one():
    tournament = TournamentFactory()
    round_ = RoundFactory(tournament=tournament)
    matches = [MatchFactory(tournament=tournament, round=round_) for _ in range(2)]
    for attempt in range(5):
        member = MemberFactory()
        barrier = threading.Barrier(2)
        statuses, errors = [], []

        def place(match):
            try:
                client = member_client(member)
                barrier.wait(timeout=10)
                statuses.append(
                    client.put(
                        f"/api/v1/matches/{match.id}/guess", {"home_goals": 1, "away_goals": 0, "joker": True},
                        format="json",
                    ).status_code
                )  # fmt: skip
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=place, args=(match,)) for match in matches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors
        assert sorted(statuses) == [201, 409], attempt
        assert len(_jokers(member, round_)) == 1


def _score(match, status, home, away):
    with transaction.atomic():
        match = Match.objects.select_for_update().select_related("tournament").get(pk=match.pk)
        before = match_result_snapshot(match=match)
        match.status, match.home_score, match.away_score = status, home, away
        match_result_save(match=match, before=before)
    return match


def test_a_joker_doubles_points_on_top_of_the_multiplier_in_play_and_after_a_correction(
    django_capture_on_commit_callbacks,
):
    tournament = TournamentFactory()
    final = RoundFactory(tournament=tournament, multiplier=3)
    match = MatchFactory(tournament=tournament, round=final)
    with_joker, without = MemberFactory(), MemberFactory()
    _put(with_joker, match, 2, 1, joker=True)
    _put(without, match, 2, 1)
    Match.objects.filter(pk=match.pk).update(kickoff_at=timezone.now() - timedelta(minutes=1))

    def points(member):
        standing = Standing.objects.get(tournament=tournament, member=member)
        return standing.points, standing.live_points, standing.exact_hits

    # In play at 1-0: goal difference right (3 x 3), the joker doubles it, live and all.
    with django_capture_on_commit_callbacks(execute=True):
        match = _score(match, Match.Status.LIVE, 1, 0)
    assert points(with_joker) == (18, 18, 0) and points(without) == (9, 9, 0)
    # 2-1 at full time: exact (4 x 3), doubled; hits count once.
    with django_capture_on_commit_callbacks(execute=True):
        match = _score(match, Match.Status.FINISHED, 2, 1)
    assert points(with_joker) == (24, 0, 1) and points(without) == (12, 0, 1)
    mine = member_client(with_joker).get("/api/v1/me/guesses").json()["results"][0]
    assert (mine["points"], mine["joker"], mine["provisional"]) == (24, True, False)
    # Corrected to 3-1: goal difference wrong, outcome right: 2 x 3 x 2.
    with django_capture_on_commit_callbacks(execute=True):
        _score(match, Match.Status.FINISHED, 3, 1)
    assert points(with_joker) == (12, 0, 0) and points(without) == (6, 0, 0)
    assert standings_verify(tournament_id=tournament.id) == []
