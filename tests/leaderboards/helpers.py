"""Building blocks of the settlement and leaderboard tests."""

from collections import defaultdict

from django.db import transaction

from apps.guesses.models import Guess
from apps.guesses.scoring import ScoringRules, score_guess
from apps.leaderboards.boards import selectors as board_selectors
from apps.leaderboards.boards.read_cache import read_cache_fill
from apps.leaderboards.boards.services import board_projection_repair
from apps.leaderboards.models import RoundStanding, Standing
from apps.leaderboards.settlement.outbox import settlement_request_write
from apps.leaderboards.settlement.standings import standing_open
from apps.matches.models import Match
from tests.factories import MatchFactory, MemberFactory


def players(tournament, count: int) -> list:
    members = MemberFactory.create_batch(count)
    for member in members:
        standing_open(tournament_id=tournament.id, member_id=member.id)
    return members


def guesses(match, picks: dict) -> None:
    """`picks`: member -> (home, away)."""
    Guess.objects.bulk_create(
        [Guess(match=match, member=member, home_goals=h, away_goals=a) for member, (h, a) in picks.items()]
    )


def finish(match, home: int, away: int, *, status=Match.Status.FINISHED):
    """Record a (new) result the way ingestion does: bump the version and write the outbox row in one transaction."""
    with transaction.atomic():
        match = Match.objects.select_for_update().get(pk=match.pk)
        match.status = status
        match.home_score, match.away_score = home, away
        match.result_version += 1
        match.save()
        kind = "reverse" if status in Match.VOID_STATUSES else "settle"
        request = settlement_request_write(match=match, kind=kind)
    return match, request


def void(match, status=Match.Status.CANCELLED):
    with transaction.atomic():
        match = Match.objects.select_for_update().get(pk=match.pk)
        match.status = status
        match.result_version += 1
        match.save()
        request = settlement_request_write(match=match, kind="reverse")
    return match, request


def expected_totals(results: list[tuple]) -> dict:
    """member id -> (points, exact, outcome) from [(match, (h, a) or None)] by the pure rules; nothing-scorers left out."""
    totals = defaultdict(lambda: [0, 0, 0])
    for match, result in results:
        if result is None:
            continue
        match = Match.objects.select_related("tournament", "round").get(pk=match.pk)
        t = match.tournament
        rules = ScoringRules(t.points_exact, t.points_goal_difference, t.points_outcome)
        for guess in Guess.objects.filter(match=match):
            scored = score_guess(
                guess=(guess.home_goals, guess.away_goals), result=result, rules=rules, multiplier=match.round.multiplier
            )
            row = totals[guess.member_id]
            row[0] += scored.points
            row[1] += int(scored.exact)
            row[2] += int(scored.outcome)
    return {member_id: tuple(row) for member_id, row in totals.items() if any(row)}


def standings(tournament) -> dict:
    """Standings that hold anything (a join opens a zero one)."""
    return {
        s.member_id: (s.points, s.exact_hits, s.outcome_hits)
        for s in Standing.objects.filter(tournament=tournament)
        if (s.points, s.exact_hits, s.outcome_hits) != (0, 0, 0)
    }


def round_standings(round_) -> dict:
    """The round table's rows: those of members who earned something in the round (zero rows are kept, unlisted)."""
    return {
        s.member_id: (s.points, s.exact_hits, s.outcome_hits)
        for s in RoundStanding.objects.earned().filter(round=round_)
    }


def match_in(tournament, **kwargs):
    return MatchFactory(tournament=tournament, **kwargs)


def leaderboard_page(*, board: str, limit: int, offset: int) -> dict:
    """A board page as the API serves it: a Redis set found missing is repaired and the page read again."""
    page = board_selectors.leaderboard_page(board=board, limit=limit, offset=offset)
    read_cache_fill(page.pop("cache_fill"))
    if page.pop("projection_missing") and board_projection_repair(board=board_selectors.board_resolve(board=board)):
        page = board_selectors.leaderboard_page(board=board, limit=limit, offset=offset)
        page.pop("projection_missing")
        read_cache_fill(page.pop("cache_fill"))
    return page
