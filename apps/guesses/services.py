"""Writes about guesses."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.common.errors import Conflict
from apps.guesses.models import Guess
from apps.guesses.selectors import guess_list_for_match
from apps.matches.models import Match
from apps.matches.selectors import guess_window_open, match_get
from apps.matches.services import match_guesses_reveal, participation_join
from apps.members.models import Member


def guess_submit(
    *,
    member_id: int,
    match_id: int,
    home_goals: int,
    away_goals: int,
    joker: bool | None = None,
    move_joker: bool = False,
    now: datetime | None = None,
) -> tuple[Guess, bool]:
    """Create or change the member's guess on a match; returns (guess, created).

    Refused with Conflict("match_locked") once the window is closed, judged by
    the server's clock. A first guess also makes the member a participant of
    the tournament. `joker` sets (True) or takes off (False) the member's
    joker on this guess; None leaves it as it is (off on a new guess), so a
    client that knows nothing of jokers never drops one. See `_joker_place`.
    """
    now = now or timezone.now()
    match = match_get(match_id=match_id)
    if not guess_window_open(match=match, now=now):
        raise Conflict("match_locked", "Guesses on this match are locked.")

    with transaction.atomic():
        if joker:
            _joker_place(member_id=member_id, match=match, move=move_joker, now=now)
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
        if joker is not None:
            guess.joker = joker
        if not created or joker:
            guess.save(update_fields=["home_goals", "away_goals", "joker", "updated_at"])
    guess.match = match
    return guess, created


def _joker_place(*, member_id: int, match: Match, move: bool, now: datetime) -> None:
    """Make room for the member's joker on `match`, or refuse with Conflict("joker_limit").

    A member holds at most the tournament's `jokers_per_round` jokers in a
    round. Over the allowance, `move` takes the joker off another match of
    the round that is still open (the one set longest ago); a joker on a
    locked match stays where it is. Lowering the allowance later takes no
    joker away: only new ones are refused.

    The member's row is locked first, so two requests placing jokers in the
    same round (two devices, a double tap) count one after the other: one
    wins, the other finds the allowance used. Call inside the transaction
    that saves the guess.
    """
    allowance = match.tournament.jokers_per_round
    if allowance == 0:
        raise Conflict("joker_limit", "Jokers are off in this tournament.")
    Member.objects.select_for_update().filter(pk=member_id).exists()
    held = list(
        Guess.objects.filter(member_id=member_id, match__round_id=match.round_id, joker=True)
        .exclude(match_id=match.pk)
        .select_related("match__tournament")
        .order_by("updated_at", "id")
    )
    if len(held) < allowance:
        return
    movable = [guess for guess in held if guess_window_open(match=guess.match, now=now)]
    if not move or not movable:
        raise Conflict(
            "joker_limit",
            f"You hold {len(held)} of {allowance} jokers in this round"
            + (" (send move_joker: true to move one here)." if movable else " on matches that are locked."),
        )
    for guess in movable[: len(held) - allowance + 1]:
        Guess.objects.filter(pk=guess.pk).update(joker=False, updated_at=now)


def guesses_reveal(*, match_id: int, now: datetime) -> QuerySet[Guess]:
    """Everyone's guesses on a locked match, recording the reveal first so the window never reopens.

    Forbidden("match_not_locked") while the window is open, and then nothing is
    recorded. The rows are read only after the reveal is committed.
    """
    guesses = guess_list_for_match(match_id=match_id, now=now)
    match_guesses_reveal(match_id=match_id, now=now)
    return guesses
