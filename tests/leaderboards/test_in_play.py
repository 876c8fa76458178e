"""Matches in play settle provisionally: the boards move goal by goal (SCORING.md "In-play").

Every step is checked against an independent computation from the guesses
and the score by the pure scoring rules: the standings, both board read paths
(Redis and the database), a league board, `/me/guesses`, member stats, and
`verify_standings`.
"""

from collections import defaultdict

import pytest
from django.db import transaction
from django.test import override_settings

from apps.guesses.models import Guess
from apps.guesses.scoring import ScoringRules, score_guess
from apps.leaderboards.boards import projection_write
from apps.leaderboards.boards.selectors import leaderboard_page
from apps.leaderboards.models import BoardState, SettlementRequest, Standing
from apps.leaderboards.settlement import outbox
from apps.leaderboards.settlement.verify import standings_verify
from apps.matches.models import Match, Tournament
from apps.matches.services import match_result_save, match_result_snapshot, tournament_scoring_update
from tests.common.api import member_client
from tests.factories import LeagueFactory, LeagueMembershipFactory, TournamentFactory
from tests.waiting import wait_until

from .helpers import finish, guesses, match_in, players
from .workers import publish, worker_env, worker_start, worker_stop

pytestmark = pytest.mark.django_db

PICKS = [(2, 1), (1, 0), (0, 0), (1, 1), (2, 2), (0, 1), (3, 1), (1, 2), (2, 0), (4, 1), (0, 2), (1, 0)]
EARLIER = [(1, 0), (0, 0), (2, 1), (1, 1), (0, 2), (1, 0), (3, 0), (1, 2), (0, 0), (2, 2), (1, 0), (0, 1)]


def score(match: Match, status: str, home: int | None, away: int | None, *, home_et=None, away_et=None) -> Match:
    """Record what a feed reports, the way ingestion saves it (`match_result_save` in one transaction)."""
    with transaction.atomic():
        match = Match.objects.select_for_update().select_related("tournament").get(pk=match.pk)
        before = match_result_snapshot(match=match)
        match.status = status
        match.home_score, match.away_score = home, away
        match.home_score_et, match.away_score_et = home_et, away_et
        match_result_save(match=match, before=before, actor="feed:test")
    return match


def expected_rows(matches: list[Match]) -> dict[int, tuple[int, int, int, int]]:
    """member id -> (points, exact hits, outcome hits, live points) from the guesses, by the pure rules."""
    totals = defaultdict(lambda: [0, 0, 0, 0])
    for match in matches:
        match = Match.objects.select_related("tournament", "round").get(pk=match.pk)
        if match.status not in Match.SCORED_STATUSES or match.counted_score() is None:
            continue
        t = match.tournament
        rules = ScoringRules(t.points_exact, t.points_goal_difference, t.points_outcome)
        for guess in Guess.objects.filter(match=match):
            scored = score_guess(
                guess=(guess.home_goals, guess.away_goals),
                result=match.counted_score(),
                rules=rules,
                multiplier=match.round.multiplier,
            )
            row = totals[guess.member_id]
            row[0] += scored.points
            row[1] += int(scored.exact)
            row[2] += int(scored.outcome)
            row[3] += scored.points if match.status == Match.Status.LIVE else 0
    return {member_id: tuple(row) for member_id, row in totals.items()}


@pytest.fixture
def game(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, len(PICKS))
    earlier, live = match_in(tournament), match_in(tournament)
    guesses(earlier, dict(zip(members, EARLIER)))
    guesses(live, dict(zip(members, PICKS)))
    league = LeagueFactory(tournament=tournament, owner=members[0])
    for member in members[::2]:
        LeagueMembershipFactory(league=league, member=member)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    with django_capture_on_commit_callbacks(execute=True):
        finish(earlier, 1, 0)
    return tournament, members, league, earlier, live


def _board_rows(board: str) -> tuple[dict, dict]:
    page = leaderboard_page(board=board, limit=100, offset=0)
    return page, {row["member"]["id"]: row for row in page["rows"]}


def check(tournament, members, league, matches, live_match, live_score):
    """Everything a member can read equals the independent computation."""
    expected = expected_rows(matches)
    zero = (0, 0, 0, 0)
    stored = {
        s.member_id: (s.points, s.exact_hits, s.outcome_hits, s.live_points)
        for s in Standing.objects.filter(tournament=tournament)
    }
    assert stored == {m.id: expected.get(m.id, zero) for m in members}

    league_ids = set(league.memberships.values_list("member_id", flat=True))
    for board, ids in ((f"tournament:{tournament.id}", {m.id for m in members}), (f"league:{league.id}", league_ids)):
        redis_page, redis_rows = _board_rows(board)
        with override_settings(REDIS_URL=""):
            database_page, database_rows = _board_rows(board)
        assert redis_page["source"] == "redis" and database_page["source"] == "database"
        assert redis_page["rows"] == database_page["rows"]
        assert set(redis_rows) == ids
        for member_id, row in redis_rows.items():
            points, exact, outcome, live_points = expected.get(member_id, zero)
            assert (row["points"], row["exact_hits"], row["outcome_hits"], row["live_points"]) == (
                points,
                exact,
                outcome,
                live_points,
            )
            ahead = sum(1 for other in ids if expected.get(other, zero)[:2] > (points, exact))
            assert row["rank"] == 1 + ahead
        for page in (redis_page, database_page):
            assert page["live"] is (live_score is not None)
            assert page["live_matches"] == (
                [{"id": live_match.pk, "home_score": live_score[0], "away_score": live_score[1]}] if live_score else []
            )

    for member in (members[0], members[1], members[3]):
        mine = member_client(member).get(f"/api/v1/me/guesses?tournament={tournament.id}").json()["results"]
        on_live = next(g for g in mine if g["match"] == live_match.pk)
        current = Match.objects.select_related("tournament", "round").get(pk=live_match.pk)
        if current.status in Match.SCORED_STATUSES:
            t = current.tournament
            rules = ScoringRules(t.points_exact, t.points_goal_difference, t.points_outcome)
            guess = Guess.objects.get(match=current, member=member)
            want = score_guess(
                guess=(guess.home_goals, guess.away_goals), result=current.counted_score(), rules=rules, multiplier=1
            ).points
            assert on_live["points"] == want
        else:
            assert on_live["points"] is None
        assert on_live["provisional"] is (current.status == Match.Status.LIVE)
        stats = member_client(member).get(f"/api/v1/tournaments/{tournament.id}/members/{member.id}/stats").json()
        points, exact, outcome, live_points = expected.get(member.id, zero)
        assert (stats["points"], stats["exact_hits"], stats["outcome_hits"], stats["live_points"]) == (
            points,
            exact,
            outcome,
            live_points,
        )
    assert standings_verify(tournament_id=tournament.id) == []


def test_a_match_in_play_moves_every_board_goal_by_goal_and_the_final_whistle_confirms(
    game, django_capture_on_commit_callbacks
):
    tournament, members, league, earlier, live = game
    steps = [
        (Match.Status.LIVE, 0, 0),  # kickoff
        (Match.Status.LIVE, 1, 0),  # goal
        (Match.Status.LIVE, 1, 1),  # equaliser
        (Match.Status.LIVE, 1, 0),  # ... disallowed
        (Match.Status.FINISHED, 2, 1),  # a late winner, then the whistle
    ]
    versions = []
    for status, home, away in steps:
        with django_capture_on_commit_callbacks(execute=True):
            live = score(live, status, home, away)
        versions.append(live.result_version)
        in_play = (home, away) if status == Match.Status.LIVE else None
        check(tournament, members, league, [earlier, live], live, in_play)
    # One settlement per step, each done, in order.
    assert versions == sorted(set(versions))
    requests = SettlementRequest.objects.filter(match=live).order_by("id")
    assert [r.status for r in requests] == ["done"] * len(steps)
    assert [r.applied_live for r in requests] == [True, True, True, True, False]
    # At full time nothing is live any more.
    assert not Standing.objects.filter(tournament=tournament).exclude(live_points=0).exists()


def test_a_final_whistle_at_the_same_score_moves_live_points_only(game, django_capture_on_commit_callbacks):
    tournament, members, league, earlier, live = game
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, Match.Status.LIVE, 1, 0)
    before = {s.member_id: (s.points, s.exact_hits, s.outcome_hits) for s in Standing.objects.filter(tournament=tournament)}
    assert Standing.objects.filter(tournament=tournament).exclude(live_points=0).exists()
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, Match.Status.FINISHED, 1, 0)
    after = {s.member_id: (s.points, s.exact_hits, s.outcome_hits) for s in Standing.objects.filter(tournament=tournament)}
    assert after == before
    check(tournament, members, league, [earlier, live], live, None)


def test_extra_time_goals_move_nothing_when_regular_time_counts(game, django_capture_on_commit_callbacks):
    tournament, members, league, earlier, live = game
    assert tournament.counted_result == Tournament.CountedResult.REGULAR
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, Match.Status.LIVE, 1, 1)
    version, board_version = live.result_version, BoardState.objects.get(tournament=tournament).version
    # Extra time: the regular-time score stays, the running score is the extra-time one.
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, Match.Status.LIVE, 1, 1, home_et=2, away_et=1)
        live = score(live, Match.Status.LIVE, 1, 1, home_et=2, away_et=2)
    assert live.result_version == version
    assert BoardState.objects.get(tournament=tournament).version == board_version
    check(tournament, members, league, [earlier, live], live, (1, 1))
    # The whistle after penalties confirms the regular-time draw.
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, Match.Status.FINISHED, 1, 1, home_et=2, away_et=2)
    check(tournament, members, league, [earlier, live], live, None)


def test_extra_time_goals_move_the_boards_when_extra_time_counts(game, django_capture_on_commit_callbacks):
    tournament, members, league, earlier, live = game
    Tournament.objects.filter(pk=tournament.pk).update(counted_result=Tournament.CountedResult.EXTRA_TIME)
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, Match.Status.LIVE, 1, 1)
        live = score(live, Match.Status.LIVE, 1, 1, home_et=2, away_et=1)
    check(tournament, members, league, [earlier, live], live, (2, 1))


@pytest.mark.parametrize("status", [Match.Status.ABANDONED, Match.Status.CANCELLED, Match.Status.POSTPONED])
def test_a_match_that_leaves_play_without_a_result_gives_everything_back(
    game, django_capture_on_commit_callbacks, status
):
    tournament, members, league, earlier, live = game
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, Match.Status.LIVE, 0, 0)
        live = score(live, Match.Status.LIVE, 2, 1)
    assert Standing.objects.filter(tournament=tournament).exclude(live_points=0).exists()
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, status, None, None)
    assert SettlementRequest.objects.filter(match=live).order_by("-id").first().kind == "reverse"
    check(tournament, members, league, [earlier, live], live, None)
    only_earlier = expected_rows([earlier])
    assert {
        s.member_id: (s.points, s.exact_hits, s.outcome_hits, s.live_points)
        for s in Standing.objects.filter(tournament=tournament)
    } == {m.id: only_earlier.get(m.id, (0, 0, 0, 0)) for m in members}


def test_a_correction_while_live_and_a_scoring_change_keep_the_live_part_exact(
    game, django_capture_on_commit_callbacks
):
    tournament, members, league, earlier, live = game
    with django_capture_on_commit_callbacks(execute=True):
        live = score(live, Match.Status.LIVE, 2, 1)
    with django_capture_on_commit_callbacks(execute=True):
        tournament_scoring_update(tournament_id=tournament.id, changes={"points_exact": 6})
    check(tournament, members, league, [earlier, live], live, (2, 1))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_three_versions_queued_before_a_worker_starts_settle_once_to_the_newest(tmp_path, monkeypatch):
    tournament = TournamentFactory()
    members = players(tournament, len(PICKS))
    earlier, live = match_in(tournament), match_in(tournament)
    guesses(live, dict(zip(members, PICKS)))
    league = LeagueFactory(tournament=tournament, owner=members[0])
    for member in members[::3]:
        LeagueMembershipFactory(league=league, member=member)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    # Nothing runs in this process: the requests wait in the outbox for the worker.
    monkeypatch.setattr(outbox, "settlement_request_enqueue", lambda *, request_id: None)
    for home, away in ((0, 0), (1, 0), (2, 0)):
        live = score(live, Match.Status.LIVE, home, away)
    requests = list(SettlementRequest.objects.filter(match=live).order_by("id"))
    assert [r.status for r in requests] == ["pending"] * 3
    # Their messages arrive oldest first, as the outbox would have sent them.
    for request in requests:
        publish("apps.leaderboards.tasks.settlement_run", request_id=request.pk)

    worker = worker_start(worker_env(), pool="solo", log=tmp_path / "worker.log")
    try:
        wait_until(
            lambda: not SettlementRequest.objects.filter(match=live, status__in=["pending", "in_progress"]).exists(),
            timeout=60,
            what="the worker to take every request",
        )
    finally:
        worker_stop(worker)
    statuses = list(SettlementRequest.objects.filter(match=live).order_by("id").values_list("status", "base"))
    assert [status for status, _ in statuses] == ["superseded", "superseded", "done"]
    # The newest moved from nothing: no stale version was ever applied.
    assert statuses[-1][1] is None
    assert Match.objects.get(pk=live.pk).settled_version == live.result_version
    check(tournament, members, league, [earlier, live], live, (2, 0))
