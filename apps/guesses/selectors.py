"""Reads about guesses. The guess window itself is a rule of the match (`matches.selectors`)."""

from datetime import datetime

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet, Value

from apps.common.errors import Forbidden, NotFound
from apps.guesses.models import Guess, GuessSummary
from apps.guesses.scoring import ScoringRules, score_guess
from apps.matches.models import Match
from apps.matches.selectors import guess_window_open, match_get, match_scored_q


def _settled_expression() -> ExpressionWrapper:
    return ExpressionWrapper(match_scored_q(prefix="match__"), output_field=BooleanField())


def guess_points(*, guess: Guess, settled: bool) -> int | None:
    """The points `guess` earned, or None while its match's current score is not settled.

    `settled` is `match_scored_q` of the guess's match: a match in play gives
    provisional points (`guess_provisional`). Points are derived, not stored:
    the guess, the counted result, the tournament's settings and the round's
    multiplier decide them, exactly as settlement computed them. Expects
    `guess.match` with `tournament` and `round` loaded.
    """
    match = guess.match
    if not settled or match.status not in Match.SCORED_STATUSES:
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
        guess=(guess.home_goals, guess.away_goals),
        result=result,
        rules=rules,
        multiplier=match.round.multiplier,
        joker=guess.joker,
    ).points


def guess_provisional(*, guess: Guess, settled: bool) -> bool:
    """Whether the guess's points are live: its match is in play and its score is settled provisionally."""
    return settled and guess.match.status == Match.Status.LIVE


def _guesses() -> QuerySet[Guess]:
    # `settled` is decided in the same query as the rows, whatever the page size.
    return Guess.objects.select_related("match__tournament", "match__round").annotate(settled=_settled_expression())


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
    settled = match.is_scored
    # (match, member) is the unique index: the walk by member id needs no sort.
    return (
        Guess.objects.filter(match_id=match.pk)
        .select_related("member", "match__tournament", "match__round")
        .annotate(settled=Value(settled, output_field=BooleanField()))
        .order_by("member_id")
    )


# --- how everyone guessed -------------------------------------------------------
TOP_SCORES = 10
SUMMARY_FIELDS = ("total", "home_win", "draw", "away_win", "jokers", "top_scores")


def _jokers_in_group():
    """Jokers among a group of guesses: the one place they are counted."""
    return Count("pk", filter=Q(joker=True))


def guess_summary_count(*, match_id: int) -> dict:
    """How everyone guessed the match: {total, home_win, draw, away_win, jokers, top_scores}.

    One aggregate query, grouped by score (a few hundred groups at most,
    whatever the number of guesses); outcomes, jokers and the 10 most guessed
    scores are added up from the groups. Ties in `top_scores` list by home
    goals, then away goals, ascending.
    """
    groups = list(
        Guess.objects.filter(match_id=match_id)
        .values("home_goals", "away_goals")
        .annotate(count=Count("pk"), jokers=_jokers_in_group())
        .order_by()
    )
    summary = {"total": 0, "home_win": 0, "draw": 0, "away_win": 0, "jokers": 0}
    for group in groups:
        home, away, count = group["home_goals"], group["away_goals"], group["count"]
        summary["total"] += count
        summary["jokers"] += group["jokers"]
        summary["home_win" if home > away else "away_win" if home < away else "draw"] += count
    groups.sort(key=lambda group: (-group["count"], group["home_goals"], group["away_goals"]))
    summary["top_scores"] = [
        {"home_goals": group["home_goals"], "away_goals": group["away_goals"], "count": group["count"]}
        for group in groups[:TOP_SCORES]
    ]
    return summary


def guess_summary_stored(*, match_id: int) -> dict | None:
    """The summary counted earlier for the match, None when it has not been counted."""
    return GuessSummary.objects.filter(match_id=match_id).values(*SUMMARY_FIELDS).first()
