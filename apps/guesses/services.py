"""Writes about guesses."""

import logging
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.common.errors import Conflict, Forbidden
from apps.guesses.models import Guess, GuessSummary
from apps.guesses.selectors import guess_list_for_match, guess_summary_count, guess_summary_stored
from apps.matches.models import Match
from apps.matches.selectors import guess_window_open, match_get
from apps.matches.services import match_guesses_reveal, participation_join
from apps.members.models import Member

logger = logging.getLogger(__name__)


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


def _summary_cache_key(match_id: int) -> str:
    return f"guesses:summary:{match_id}"


# A guess request that found the window open just before the reveal may still
# be committing: a count this soon after the reveal is served but not kept.
SUMMARY_SETTLE_SECONDS = 5


def guesses_summary(*, match_id: int, now: datetime) -> dict:
    """How everyone guessed a locked match; Forbidden("match_not_locked") while its window is open.

    Counted once: a read after the lock records the reveal (the window never
    reopens, so the guesses no longer change), counts them with one aggregate
    query and, from SUMMARY_SETTLE_SECONDS after the reveal, stores the result
    in a `GuessSummary` row and in the cache with no expiry. Later reads are
    served from the cache without touching the database; a cache that lost the
    entry (evicted, flushed) is refilled from the row, never by counting again.
    NotFound for an unknown match.
    """
    key = _summary_cache_key(match_id)
    summary = _cache_get(key)
    if summary is not None:
        return summary
    summary = guess_summary_stored(match_id=match_id)
    if summary is None:
        match = match_get(match_id=match_id)
        if guess_window_open(match=match, now=now):
            raise Forbidden("match_not_locked", "How everyone guessed is shown once the match is locked.")
        # Committed before counting: no guess can change once anyone may see the counts.
        match_guesses_reveal(match_id=match.pk, now=now)
        revealed_at = match_get(match_id=match.pk).guesses_revealed_at
        summary = guess_summary_count(match_id=match.pk)
        if now - revealed_at < timedelta(seconds=SUMMARY_SETTLE_SECONDS):
            return summary
        # Two first readers may count at once: the same guesses give the same counts, the first row stays.
        GuessSummary.objects.get_or_create(match_id=match.pk, defaults=summary)
    _cache_set(key, summary)
    return summary


def _cache_get(key: str) -> dict | None:
    try:
        return cache.get(key)
    except Exception as exc:  # the cache is Redis: when it is away the stored row answers
        logger.warning("guess summary cache unavailable: %s", exc)
        return None


def _cache_set(key: str, summary: dict) -> None:
    try:
        cache.set(key, summary, timeout=None)
    except Exception as exc:  # only the cache is lost; the row answers the next read
        logger.warning("guess summary cache unavailable: %s", exc)
