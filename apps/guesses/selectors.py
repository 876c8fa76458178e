"""Reads about guesses, and the guess window (SCORING.md "Guess window")."""

from datetime import datetime, timedelta

from apps.matches.models import Match


def guess_lock_at(*, match: Match) -> datetime:
    """The instant from which guesses on `match` are frozen; follows the kickoff when it moves."""
    return match.kickoff_at - timedelta(minutes=match.tournament.lock_minutes)


def guess_window_open(*, match: Match, now: datetime) -> bool:
    """Whether a guess on `match` may be created or changed at the server's `now`.

    Only a scheduled match before kickoff - lock_minutes takes guesses: a live,
    finished, postponed, cancelled or abandoned match is locked whatever its time.
    `match.tournament` must be loaded (select_related) to avoid a query per match.
    """
    return match.status == Match.Status.SCHEDULED and now < guess_lock_at(match=match)
