"""Achievements (SCORING.md "Achievements"): earned by settlement of final results, once, and taken back exactly.

Matches are settled the way results arrive (result + outbox row in one
transaction, the job run on commit), so every case goes through the runner's
call after a request is done.
"""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from apps.leaderboards.achievements.catalogue import (
    CATALOGUE,
    CLIMBER,
    FIRST_EXACT,
    HAT_TRICK,
    PERFECT_ROUND,
    TOP_TEN_PERCENT,
)
from apps.leaderboards.achievements.evaluate import achievements_evaluate, achievements_rebuild
from apps.leaderboards.achievements.portable import match_achievements_computed, match_achievements_sync
from apps.leaderboards.achievements.signals import achievement_earned
from apps.leaderboards.achievements.snapshots import achievements_after_snapshot
from apps.leaderboards.boards.snapshots.record import snapshot_record
from apps.leaderboards.models import Achievement
from apps.leaderboards.settlement.runner import settlement_run
from apps.matches.models import Match
from apps.matches.services import match_result_save, match_result_snapshot
from tests.common.api import anonymous_client, assert_error
from tests.factories import MemberFactory, RoundFactory, TournamentFactory

from .helpers import finish, guesses, match_in, players, void

pytestmark = pytest.mark.django_db

START = timezone.now() + timedelta(days=1)


@pytest.fixture(autouse=True)
def evaluation_never_fails(caplog):
    """The runner's call logs a failed evaluation instead of raising: make one fail the test."""
    yield
    failures = [r for r in caplog.records if r.name.startswith("apps.leaderboards.achievements") and r.levelname == "ERROR"]
    assert failures == []


def held(tournament) -> dict[int, set[str]]:
    """member id -> codes held."""
    found: dict[int, set[str]] = {}
    for member_id, code in Achievement.objects.filter(tournament=tournament).values_list("member_id", "code"):
        found.setdefault(member_id, set()).add(code)
    return found


def agrees_with_rebuild(tournament) -> bool:
    """A recomputation from every guess finds nothing to hand out or take back, set-based or through the ORM."""
    before = held(tournament)
    computed: dict[int, set[str]] = {}
    for member_id, code in match_achievements_computed(tournament_id=tournament.id):
        computed.setdefault(member_id, set()).add(code)
    result = achievements_rebuild(tournament_id=tournament.id)
    return (result.earned, result.revoked, held(tournament), computed) == ([], 0, before, before)


def settle(match, home, away, capture):
    with capture(execute=True):
        return finish(match, home, away)[0]


def matches(tournament, count, *, round_=None):
    """`count` matches kicking off an hour apart, in the given round (or one round each)."""
    made = []
    for index in range(count):
        extra = {"round": round_} if round_ is not None else {}
        made.append(match_in(tournament, kickoff_at=START + timedelta(hours=index), **extra))
    return made


def score(match: Match, status: str, home: int, away: int) -> Match:
    """A feed's score change, saved the way ingestion saves it."""
    with transaction.atomic():
        match = Match.objects.select_for_update().select_related("tournament").get(pk=match.pk)
        before = match_result_snapshot(match=match)
        match.status, match.home_score, match.away_score = status, home, away
        match_result_save(match=match, before=before, actor="feed:test")
    return match


# --- first_exact -------------------------------------------------------------------------------------------------


def test_an_exact_hit_earns_first_exact_once(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    exact, close, wrong = players(tournament, 3)
    (match,) = matches(tournament, 1)
    guesses(match, {exact: (2, 1), close: (1, 0), wrong: (0, 2)})

    match = settle(match, 2, 1, django_capture_on_commit_callbacks)

    assert held(tournament) == {exact.id: {FIRST_EXACT}}
    row = Achievement.objects.get(member=exact)
    assert row.match_id == match.id
    # Settling again (the same request, or the job redelivered) stores nothing more.
    request = match.settlement_requests.get()
    assert settlement_run(request_id=request.id).outcome == "noop"
    achievements_evaluate(request_id=request.id)
    assert list(Achievement.objects.filter(tournament=tournament).values_list("member_id", "earned_at")) == [
        (exact.id, row.earned_at)
    ]


def test_a_correction_that_voids_an_exact_hit_takes_first_exact_back(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    only_here, also_elsewhere, now_exact = players(tournament, 3)
    earlier, match = matches(tournament, 2)
    guesses(earlier, {also_elsewhere: (0, 0), only_here: (1, 1), now_exact: (3, 3)})
    guesses(match, {only_here: (2, 1), also_elsewhere: (2, 1), now_exact: (1, 1)})
    settle(earlier, 0, 0, django_capture_on_commit_callbacks)
    match = settle(match, 2, 1, django_capture_on_commit_callbacks)
    assert held(tournament) == {only_here.id: {FIRST_EXACT}, also_elsewhere.id: {FIRST_EXACT}}
    kept = Achievement.objects.get(member=also_elsewhere)

    settle(match, 1, 1, django_capture_on_commit_callbacks)

    # The exact hit the achievement rested on is gone: taken back, unless another one holds it.
    assert held(tournament) == {also_elsewhere.id: {FIRST_EXACT}, now_exact.id: {FIRST_EXACT}}
    again = Achievement.objects.get(member=also_elsewhere)
    assert (again.earned_at, again.match_id) == (kept.earned_at, earlier.id)
    assert agrees_with_rebuild(tournament)


def test_a_cancelled_match_takes_first_exact_back(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    (member,) = players(tournament, 1)
    (match,) = matches(tournament, 1)
    guesses(match, {member: (1, 0)})
    settle(match, 1, 0, django_capture_on_commit_callbacks)
    assert held(tournament) == {member.id: {FIRST_EXACT}}

    with django_capture_on_commit_callbacks(execute=True):
        void(match)

    assert held(tournament) == {}


def test_goals_in_play_neither_award_nor_take_back(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    holder, hopeful = players(tournament, 2)
    earlier, live = matches(tournament, 2)
    guesses(earlier, {holder: (1, 0)})
    guesses(live, {holder: (0, 0), hopeful: (1, 0)})
    settle(earlier, 1, 0, django_capture_on_commit_callbacks)
    assert held(tournament) == {holder.id: {FIRST_EXACT}}

    with django_capture_on_commit_callbacks(execute=True):
        score(live, Match.Status.LIVE, 0, 0)  # the holder's guess is exact in play
    with django_capture_on_commit_callbacks(execute=True):
        score(live, Match.Status.LIVE, 1, 0)  # now the hopeful's
    assert held(tournament) == {holder.id: {FIRST_EXACT}}
    assert live.settlement_requests.filter(status="done").count() == 2  # both goals were settled

    # The final whistle at 1-0 is a final result: now it counts.
    with django_capture_on_commit_callbacks(execute=True):
        score(live, Match.Status.FINISHED, 1, 0)
    assert held(tournament) == {holder.id: {FIRST_EXACT}, hopeful.id: {FIRST_EXACT}}

    # A finished match back in play holds no final result: its exact hits no longer count.
    with django_capture_on_commit_callbacks(execute=True):
        score(live, Match.Status.LIVE, 1, 0)
    assert held(tournament) == {holder.id: {FIRST_EXACT}}
    assert agrees_with_rebuild(tournament)


# --- hat_trick -------------------------------------------------------------------------------------------------


def test_three_consecutive_exact_hits_earn_a_hat_trick(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    streak, broken, skipper, two = players(tournament, 4)
    m1, m2, m3, m4 = matches(tournament, 4)
    results = {m1: (1, 0), m2: (2, 2), m3: (0, 1), m4: (3, 1)}
    guesses(m1, {streak: (1, 0), broken: (1, 0), skipper: (1, 0), two: (1, 0)})
    guesses(m2, {streak: (2, 2), broken: (0, 0), two: (2, 2)})  # the skipper did not guess m2
    guesses(m3, {streak: (0, 1), broken: (0, 1), skipper: (0, 1), two: (5, 5)})
    guesses(m4, {streak: (0, 0), broken: (3, 1), skipper: (3, 1), two: (3, 1)})

    for match in (m1, m2):
        settle(match, *results[match], django_capture_on_commit_callbacks)
    assert not any(HAT_TRICK in codes for codes in held(tournament).values())

    settle(m3, *results[m3], django_capture_on_commit_callbacks)
    assert {m for m, codes in held(tournament).items() if HAT_TRICK in codes} == {streak.id}

    settle(m4, *results[m4], django_capture_on_commit_callbacks)
    hat_tricks = {m for m, codes in held(tournament).items() if HAT_TRICK in codes}
    # Consecutive among the matches each member guessed: the skipper's m1, m3, m4 (m2 not guessed).
    # broken: m1, m3, m4 exact around a miss on m2; two: three exact hits, never three in a row.
    assert hat_tricks == {streak.id, skipper.id}
    assert Achievement.objects.get(member=streak, code=HAT_TRICK).match_id == m3.id
    assert agrees_with_rebuild(tournament)


def test_a_correction_that_breaks_a_hat_trick_takes_it_back(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    streak, late = players(tournament, 2)
    m1, m2, m3, m4 = matches(tournament, 4)
    for match, (home, away) in zip((m1, m2, m3, m4), [(1, 0), (2, 2), (0, 1), (3, 1)]):
        guesses(match, {streak: (home, away), late: (home, away) if match != m1 else (0, 0)})
    settle(m1, 1, 0, django_capture_on_commit_callbacks)
    settle(m2, 2, 2, django_capture_on_commit_callbacks)
    settle(m3, 0, 1, django_capture_on_commit_callbacks)
    settle(m4, 3, 1, django_capture_on_commit_callbacks)
    assert Achievement.objects.filter(code=HAT_TRICK).count() == 2

    settle(m3, 1, 1, django_capture_on_commit_callbacks)  # corrected: nobody was exact on m3

    assert not Achievement.objects.filter(code=HAT_TRICK).exists()
    # Their other exact hits still hold first_exact.
    assert held(tournament) == {streak.id: {FIRST_EXACT}, late.id: {FIRST_EXACT}}
    assert agrees_with_rebuild(tournament)


def test_a_cancelled_match_breaks_a_hat_trick(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    (member,) = players(tournament, 1)
    m1, m2, m3 = matches(tournament, 3)
    for match in (m1, m2, m3):
        guesses(match, {member: (1, 0)})
        settle(match, 1, 0, django_capture_on_commit_callbacks)
    assert held(tournament) == {member.id: {FIRST_EXACT, HAT_TRICK}}

    with django_capture_on_commit_callbacks(execute=True):
        void(m2)

    assert held(tournament) == {member.id: {FIRST_EXACT}}
    assert agrees_with_rebuild(tournament)


# --- perfect_round ---------------------------------------------------------------------------------------------


@pytest.fixture
def group(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    round_ = RoundFactory(tournament=tournament)
    perfect, two_only, one_miss, goal_difference = players(tournament, 4)
    m1, m2, m3 = matches(tournament, 3, round_=round_)
    # Results: 2-0, 1-1, 0-3.
    guesses(m1, {perfect: (1, 0), two_only: (3, 1), one_miss: (2, 0), goal_difference: (3, 1)})
    guesses(m2, {perfect: (0, 0), two_only: (2, 2), one_miss: (0, 1), goal_difference: (3, 3)})
    guesses(m3, {perfect: (1, 2), one_miss: (0, 3), goal_difference: (0, 3)})
    return tournament, round_, (m1, m2, m3), (perfect, two_only, one_miss, goal_difference)


def _perfect(tournament) -> set[int]:
    return {m for m, codes in held(tournament).items() if PERFECT_ROUND in codes}


def test_a_finished_round_with_every_guess_scoring_is_perfect(group, django_capture_on_commit_callbacks):
    tournament, round_, (m1, m2, m3), (perfect, two_only, one_miss, goal_difference) = group
    settle(m1, 2, 0, django_capture_on_commit_callbacks)
    settle(m2, 1, 1, django_capture_on_commit_callbacks)
    assert _perfect(tournament) == set()  # the round is not finished yet

    settle(m3, 0, 3, django_capture_on_commit_callbacks)

    # two_only guessed 2 matches; one_miss missed m2's outcome.
    assert _perfect(tournament) == {perfect.id, goal_difference.id}
    assert set(Achievement.objects.filter(code=PERFECT_ROUND).values_list("round_id", flat=True)) == {round_.id}
    assert agrees_with_rebuild(tournament)


def test_a_round_with_a_match_in_play_is_not_finished(group, django_capture_on_commit_callbacks):
    tournament, _, (m1, m2, m3), _ = group
    settle(m1, 2, 0, django_capture_on_commit_callbacks)
    settle(m2, 1, 1, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        score(m3, Match.Status.LIVE, 0, 3)
    assert _perfect(tournament) == set()


def test_a_match_abandoned_in_play_finishes_its_round(group, django_capture_on_commit_callbacks):
    tournament, round_, (m1, m2, m3), (perfect, two_only, one_miss, goal_difference) = group
    m4 = match_in(tournament, round=round_, kickoff_at=START + timedelta(hours=5))
    guesses(m4, {perfect: (5, 0), two_only: (1, 0)})
    for match, result in ((m1, (2, 0)), (m2, (1, 1)), (m3, (0, 3))):
        settle(match, *result, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        score(m4, Match.Status.LIVE, 0, 1)
    assert _perfect(tournament) == set()

    with django_capture_on_commit_callbacks(execute=True):
        score(m4, Match.Status.ABANDONED, 0, 1)

    # m4 no longer counts (perfect's miss on it neither); two_only still guessed only two that count.
    assert _perfect(tournament) == {perfect.id, goal_difference.id}
    assert agrees_with_rebuild(tournament)


def test_a_correction_in_a_finished_round_takes_perfect_round_back_and_hands_it_out(
    group, django_capture_on_commit_callbacks
):
    tournament, _, (m1, m2, m3), (perfect, _, one_miss, goal_difference) = group
    for match, result in ((m1, (2, 0)), (m2, (1, 1)), (m3, (0, 3))):
        settle(match, *result, django_capture_on_commit_callbacks)
    assert _perfect(tournament) == {perfect.id, goal_difference.id}

    settle(m2, 0, 1, django_capture_on_commit_callbacks)  # corrected: an away win

    # perfect and goal_difference guessed draws; one_miss's 0-1 now scores on all three.
    assert _perfect(tournament) == {one_miss.id}
    assert agrees_with_rebuild(tournament)


def test_a_cancelled_match_no_longer_counts_in_its_round(group, django_capture_on_commit_callbacks):
    tournament, round_, (m1, m2, m3), (perfect, _, one_miss, goal_difference) = group
    m4 = match_in(tournament, round=round_, kickoff_at=START + timedelta(hours=5))
    guesses(m4, {one_miss: (1, 0), perfect: (1, 0)})
    for match, result in ((m1, (2, 0)), (m2, (1, 1)), (m3, (0, 3)), (m4, (2, 1))):
        settle(match, *result, django_capture_on_commit_callbacks)
    assert _perfect(tournament) == {perfect.id, goal_difference.id}

    with django_capture_on_commit_callbacks(execute=True):
        void(m2)

    # one_miss's miss was on m2: m1, m3 and m4 remain, all scored; perfect still has three;
    # goal_difference is left with two guessed matches that count (m1, m3).
    assert _perfect(tournament) == {perfect.id, one_miss.id}
    assert agrees_with_rebuild(tournament)


def test_rebuild_achievements_repairs_a_tournament(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    member, other = players(tournament, 2)
    m1, m2, m3 = matches(tournament, 3)
    for match in (m1, m2, m3):
        guesses(match, {member: (1, 0), other: (0, 0)})
        settle(match, 1, 0, django_capture_on_commit_callbacks)
    Achievement.objects.filter(member=member, code=HAT_TRICK).delete()  # an evaluation that failed
    Achievement.objects.create(tournament=tournament, member=other, code=FIRST_EXACT, earned_at=timezone.now())

    call_command("rebuild_achievements", tournament=tournament.id, stdout=open("/dev/null", "w"))

    assert held(tournament) == {member.id: {FIRST_EXACT, HAT_TRICK}}
    assert Achievement.objects.get(member=member, code=HAT_TRICK).match_id == m3.id


def test_the_orm_path_of_the_embedded_database_stores_the_same(group, django_capture_on_commit_callbacks):
    tournament, _, (m1, m2, m3), (perfect, _, one_miss, goal_difference) = group
    for match, result in ((m1, (2, 0)), (m2, (1, 1)), (m3, (0, 3))):
        settle(match, *result, django_capture_on_commit_callbacks)
    expected = held(tournament)
    assert expected == {
        perfect.id: {PERFECT_ROUND},
        goal_difference.id: {PERFECT_ROUND, FIRST_EXACT},
        one_miss.id: {FIRST_EXACT},
    }
    Achievement.objects.filter(member=perfect).delete()
    Achievement.objects.create(tournament=tournament, member=perfect, code=HAT_TRICK, earned_at=timezone.now())

    earned, revoked = match_achievements_sync(tournament_id=tournament.id)

    assert (earned, revoked, held(tournament)) == ([(perfect.id, PERFECT_ROUND)], 1, expected)
    assert match_achievements_sync(tournament_id=tournament.id) == ([], 0)


# --- snapshots -----------------------------------------------------------------------------------------------


def test_snapshot_ranks_award_top_ten_percent_and_climber(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 5)
    a, b, c, d, e = (m.id for m in members)
    now = f"VALUES ({a}, 1), ({b}, 2), ({c}, 3), ({d}, 10), ({e}, 20)"
    before = f"VALUES ({a}, 1), ({b}, 5), ({c}, 8), ({d}, 20)"  # e was not in the previous snapshot

    with django_capture_on_commit_callbacks(execute=True):
        earned = achievements_after_snapshot(
            tournament_id=tournament.id, snapshot_ranks_sql=now, total=20, previous_ranks_sql=before,
            previous_total=18, snapshot_id=7,
        )  # fmt: skip

    # Top 10% of 20: ranks 1 and 2. Climbers: 25% of 20 is 5 places: c (8 -> 3) and d (20 -> 10); b climbed 3.
    assert sorted(earned) == sorted([(a, TOP_TEN_PERCENT), (b, TOP_TEN_PERCENT), (c, CLIMBER), (d, CLIMBER)])
    assert set(Achievement.objects.values_list("snapshot_id", flat=True)) == {7}
    # The next snapshot hands out each code once per member.
    again = achievements_after_snapshot(
        tournament_id=tournament.id, snapshot_ranks_sql=f"VALUES ({c}, 1)", total=20,
        previous_ranks_sql=f"VALUES ({c}, 20)", snapshot_id=8,
    )  # fmt: skip
    assert again == [(c, TOP_TEN_PERCENT)]


def test_a_first_snapshot_awards_no_climber_and_a_small_board_no_top_ten_percent():
    tournament = TournamentFactory()
    (member,) = players(tournament, 1)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE snap (member_id bigint, rank int)")
        cursor.execute("INSERT INTO snap VALUES (%s, 1)", [member.id])
    assert achievements_after_snapshot(
        tournament_id=tournament.id, snapshot_ranks_sql="SELECT member_id, rank FROM snap", total=9
    ) == []
    assert achievements_after_snapshot(
        tournament_id=tournament.id, snapshot_ranks_sql="SELECT member_id, rank FROM snap WHERE rank <= %(top)s",
        total=10, params={"top": 1},
    ) == [(member.id, TOP_TEN_PERCENT)]  # fmt: skip


# --- announcing ----------------------------------------------------------------------------------------------


def test_earned_achievements_are_announced_after_commit(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    member, other = players(tournament, 2)
    (match,) = matches(tournament, 1)
    guesses(match, {member: (1, 0), other: (0, 0)})
    heard = []

    def receiver(*, tournament_id, earned, **kwargs):
        heard.append((tournament_id, earned))

    achievement_earned.connect(receiver)
    try:
        settle(match, 1, 0, django_capture_on_commit_callbacks)
        settle(match, 1, 0, django_capture_on_commit_callbacks)  # nothing new: nothing said
    finally:
        achievement_earned.disconnect(receiver)
    assert heard == [(tournament.id, [(member.id, FIRST_EXACT)])]


# --- API -----------------------------------------------------------------------------------------------------


def test_the_catalogue_lists_every_code():
    tournament = TournamentFactory()
    response = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/achievements")
    assert response.status_code == 200
    assert [row["code"] for row in response.json()] == [e.code for e in CATALOGUE]
    assert set(response.json()[0]) == {"code", "name", "description"}
    assert_error(anonymous_client().get("/api/v1/tournaments/999999/achievements"), 404, "tournament_not_found")


def test_a_members_achievements_are_public(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    member, nothing = players(tournament, 2)
    (match,) = matches(tournament, 1)
    guesses(match, {member: (1, 0)})
    settle(match, 1, 0, django_capture_on_commit_callbacks)

    response = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{member.id}/achievements")
    assert response.status_code == 200
    (row,) = response.json()
    assert (row["code"], row["name"]) == (FIRST_EXACT, "First exact") and row["earned_at"]
    assert anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{nothing.id}/achievements").json() == []

    outsider = MemberFactory()
    assert_error(
        anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{outsider.id}/achievements"),
        404,
        "not_participating",
    )
    assert_error(
        anonymous_client().get(f"/api/v1/tournaments/999999/members/{member.id}/achievements"),
        404,
        "tournament_not_found",
    )


def test_a_recorded_snapshot_hands_out_top_ten_percent_and_climber(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 10)
    climber, others = members[9], members[:9]
    first, second = matches(tournament, 2)
    # Nine members get the outcome of the first match right (2 points) and share rank 1; the climber is 10th.
    guesses(first, {m: ((2, 0) if m is not climber else (0, 2)) for m in members})
    settle(first, 1, 0, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot_record(tournament_id=tournament.id, trigger="staff")
    assert held(tournament) == {m.id: {TOP_TEN_PERCENT} for m in others}
    # The climber alone guesses the second match exactly (4 points) and goes from 10th to 1st.
    guesses(second, {m: ((3, 1) if m is climber else (0, 3)) for m in members})
    settle(second, 3, 1, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot_record(tournament_id=tournament.id, trigger="staff")
    assert held(tournament) == {
        **{m.id: {TOP_TEN_PERCENT} for m in others},
        climber.id: {TOP_TEN_PERCENT, CLIMBER, FIRST_EXACT},
    }
