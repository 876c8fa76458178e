"""Reads about guesses, and the guess window (SCORING.md "Guess window")."""

from datetime import datetime, timedelta

from django.db.models import BooleanField, Exists, OuterRef, QuerySet, Value

from apps.common.errors import Forbidden, NotFound
from apps.guesses.models import Guess
from apps.guesses.scoring import ScoringRules, score_guess
from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match
from apps.matches.selectors import match_get


def guess_lock_at(*, match: Match) -> datetime:
    """The instant from which guesses on `match` are frozen; follows the kickoff when it moves."""
    return match.kickoff_at - timedelta(minutes=match.tournament.lock_minutes)


def guess_window_open(*, match: Match, now: datetime) -> bool:
    """Whether a guess on `match` may be created or changed at the server's `now`.

    Only a scheduled match before kickoff - lock_minutes takes guesses: a live,
    finished, postponed, cancelled or abandoned match is locked whatever its time.
    A match whose guesses have been shown to members stays locked even when a
    later kickoff or a lower lock_minutes would open it again.
    `match.tournament` must be loaded (select_related) to avoid a query per match.
    """
    return (
        match.guesses_revealed_at is None
        and match.status == Match.Status.SCHEDULED
        and now < guess_lock_at(match=match)
    )


def match_settled(*, match: Match) -> bool:
    """Whether the match's current result has been settled (points awarded for it)."""
    return (
        match.status == Match.Status.FINISHED
        and SettlementRequest.objects.filter(
            match_id=match.pk,
            result_version=match.result_version,
            kind=SettlementRequest.Kind.SETTLE,
            status=SettlementRequest.Status.DONE,
        ).exists()
    )


def _settled_subquery() -> Exists:
    return Exists(
        SettlementRequest.objects.filter(
            match_id=OuterRef("match_id"),
            result_version=OuterRef("match__result_version"),
            kind=SettlementRequest.Kind.SETTLE,
            status=SettlementRequest.Status.DONE,
        )
    )


def guess_points(*, guess: Guess, settled: bool) -> int | None:
    """The points `guess` earned, or None while its match's current result is not settled.

    Points are derived, not stored: the guess, the counted result, the
    tournament's settings and the round's multiplier decide them, exactly as
    settlement computed them. Expects `guess.match` with `tournament` and
    `round` loaded.
    """
    match = guess.match
    if not settled or match.status != Match.Status.FINISHED:
        return None
    result = match.counted_score()
    if result is None:
        return None
    tournament = match.tournament
    rules = ScoringRules(
        points_exact=tournament.points_exact,
        points_goal_difference=tournament.points_goal_difference,
        points_outcome=tournament.points_outcome,
    )
    return score_guess(
        guess=(guess.home_goals, guess.away_goals), result=result, rules=rules, multiplier=match.round.multiplier
    ).points


def _guesses() -> QuerySet[Guess]:
    # `settled` is decided in the same query as the rows, whatever the page size.
    return Guess.objects.select_related("match__tournament", "match__round").annotate(settled=_settled_subquery())


def guess_get(*, match_id: int, member_id: int) -> Guess:
    match_get(match_id=match_id)
    guess = _guesses().filter(match_id=match_id, member_id=member_id).first()
    if guess is None:
        raise NotFound("guess_not_found", "You have no guess on this match.")
    return guess


def guess_list_for_member(
    *, member_id: int, tournament_id: int | None = None, round_id: int | None = None
) -> QuerySet[Guess]:
    queryset = _guesses().filter(member_id=member_id)
    if tournament_id is not None:
        queryset = queryset.filter(match__tournament_id=tournament_id)
    if round_id is not None:
        queryset = queryset.filter(match__round_id=round_id)
    return queryset.order_by("match__kickoff_at", "match_id")


def guess_list_for_match(*, match_id: int, now: datetime) -> QuerySet[Guess]:
    """Everyone's guesses on a match, visible only once the match is locked.

    Before the lock they would let a member copy others' guesses.
    """
    match = match_get(match_id=match_id)
    if guess_window_open(match=match, now=now):
        raise Forbidden("match_not_locked", "Other members' guesses are shown once the match is locked.")
    settled = match_settled(match=match)
    # (match, member) is the unique index: the walk by member id needs no sort.
    return (
        Guess.objects.filter(match_id=match.pk)
        .select_related("member", "match__tournament", "match__round")
        .annotate(settled=Value(settled, output_field=BooleanField()))
        .order_by("member_id")
    )
