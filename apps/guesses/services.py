"""Writes about guesses."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.common.errors import Conflict
from apps.guesses.models import Guess
from apps.guesses.selectors import guess_list_for_match
from apps.matches.selectors import guess_window_open, match_get
from apps.matches.services import match_guesses_reveal, participation_join


def guess_submit(
    *, member_id: int, match_id: int, home_goals: int, away_goals: int, now: datetime | None = None
) -> tuple[Guess, bool]:
    """Create or change the member's guess on a match; returns (guess, created).

    Refused with Conflict("match_locked") once the window is closed, judged by
    the server's clock. A first guess also makes the member a participant of
    the tournament.
    """
    match = match_get(match_id=match_id)
    if not guess_window_open(match=match, now=now or timezone.now()):
        raise Conflict("match_locked", "Guesses on this match are locked.")

    with transaction.atomic():
        # Two requests of one member may race (double submit, two devices):
        # the row lock serialises changes, and a lost insert race falls back
        # to changing the row the other request created, never to a 500.
        guess = Guess.objects.select_for_update().filter(match_id=match.pk, member_id=member_id).first()
        created = False
        if guess is None:
            try:
                with transaction.atomic():
                    guess = Guess.objects.create(
                        match=match, member_id=member_id, home_goals=home_goals, away_goals=away_goals
                    )
                created = True
            except IntegrityError:
                guess = Guess.objects.select_for_update().get(match_id=match.pk, member_id=member_id)
        if created:
            participation_join(tournament_id=match.tournament_id, member_id=member_id)
        else:
            guess.home_goals, guess.away_goals = home_goals, away_goals
            guess.save(update_fields=["home_goals", "away_goals", "updated_at"])
    guess.match = match
    return guess, created


def guesses_reveal(*, match_id: int, now: datetime) -> QuerySet[Guess]:
    """Everyone's guesses on a locked match, recording the reveal first so the window never reopens.

    Forbidden("match_not_locked") while the window is open, and then nothing is
    recorded. The rows are read only after the reveal is committed.
    """
    guesses = guess_list_for_match(match_id=match_id, now=now)
    match_guesses_reveal(match_id=match_id, now=now)
    return guesses
