"""Reads about tournaments, rounds and matches."""

from datetime import datetime, timedelta

from django.db.models import F, Prefetch, Q, QuerySet

from apps.common.errors import NotFound
from apps.matches.models import Match, Round, Tournament


def match_settled_q(*, prefix: str = "") -> Q:
    """The "settled" predicate: the match is finished and its current result's points are awarded.

    `prefix` reaches the match through a relation (`"match__"` from a guess).
    `Match.is_settled` is the same rule on a loaded row.
    """
    return Q(**{f"{prefix}status": Match.Status.FINISHED, f"{prefix}settled_version": F(f"{prefix}result_version")})


def match_scored_q(*, prefix: str = "") -> Q:
    """The match's current score has its points awarded: settled when finished, provisionally while in play.

    `Match.is_scored` is the same rule on a loaded row. While a newer score
    waits for settlement, neither holds: the points shown would not be the
    boards'.
    """
    return Q(
        **{f"{prefix}status__in": Match.SCORED_STATUSES, f"{prefix}settled_version": F(f"{prefix}result_version")}
    )


def tournament_list() -> QuerySet[Tournament]:
    return Tournament.objects.order_by("-starts_at", "id")


def tournament_get(*, tournament_id: int, with_rounds: bool = False) -> Tournament:
    queryset = Tournament.objects.all()
    if with_rounds:
        queryset = queryset.prefetch_related(Prefetch("rounds", queryset=Round.objects.order_by("order", "id")))
    tournament = queryset.filter(pk=tournament_id).first()
    if tournament is None:
        raise NotFound("tournament_not_found", "No tournament has this id.")
    return tournament


def _matches() -> QuerySet[Match]:
    # Every field a match answer shows, in one query: the counted result and
    # the lock need the tournament, the answer names both teams.
    return Match.objects.select_related("tournament", "home_team", "away_team")


def match_list(
    *,
    tournament_id: int,
    round_id: int | None = None,
    status: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> QuerySet[Match]:
    """The matches of a tournament in kickoff order; raises NotFound for an unknown tournament."""
    if not Tournament.objects.filter(pk=tournament_id).exists():
        raise NotFound("tournament_not_found", "No tournament has this id.")
    queryset = _matches().filter(tournament_id=tournament_id)
    if round_id is not None:
        queryset = queryset.filter(round_id=round_id)
    if status is not None:
        queryset = queryset.filter(status=status)
    if date_from is not None:
        queryset = queryset.filter(kickoff_at__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(kickoff_at__lte=date_to)
    return queryset.order_by("kickoff_at", "id")


def match_get(*, match_id: int) -> Match:
    match = _matches().filter(pk=match_id).first()
    if match is None:
        raise NotFound("match_not_found", "No match has this id.")
    return match


# --- the guess window (SCORING.md "Guess window"): a rule of the match alone ---


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
