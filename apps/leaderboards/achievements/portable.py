"""The match achievements of a tournament recomputed through the ORM: for the embedded database and small data.

The set-based statements of `evaluate` are PostgreSQL's. On other databases
(the embedded SQLite demo, a few hundred members) every evaluation instead
recomputes the whole tournament here, by the same rules, from the same
inputs: the final result settlement holds for each match (its last done
request, when not a score in play) and every guess. The tests hold both to
the same answers.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.guesses.models import Guess
from apps.leaderboards.achievements.catalogue import FIRST_EXACT, HAT_TRICK, PERFECT_ROUND
from apps.leaderboards.models import Achievement, SettlementRequest, Standing
from apps.matches.models import Match

MATCH_CODES = (FIRST_EXACT, HAT_TRICK, PERFECT_ROUND)


@dataclass(frozen=True)
class _Held:
    match_id: int
    round_id: int
    void: bool
    result: tuple[int, int] | None  # the final result; None: none


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _held(tournament_id: int) -> list[_Held]:
    """The tournament's matches by kickoff (then id), each with the final result settlement holds."""
    last: dict[int, tuple[int, int] | None] = {}
    for match_id, home, away, live in (
        SettlementRequest.objects.filter(match__tournament_id=tournament_id, status=SettlementRequest.Status.DONE)
        .order_by("match_id", "-finished_at", "-id")
        .values_list("match_id", "applied_home", "applied_away", "applied_live")
    ):
        if match_id not in last:
            last[match_id] = (home, away) if home is not None and away is not None and not live else None
    return [
        _Held(match_id, round_id, status in Match.VOID_STATUSES, last.get(match_id))
        for match_id, round_id, status in Match.objects.filter(tournament_id=tournament_id)
        .order_by("kickoff_at", "id")
        .values_list("id", "round_id", "status")
    ]


def match_achievements_computed(*, tournament_id: int) -> dict[tuple[int, str], int]:
    """{(member id, code): source} of first_exact, hat_trick (source: a match) and perfect_round (a round)."""
    held = _held(tournament_id)
    position = {h.match_id: index for index, h in enumerate(held)}
    by_id = {h.match_id: h for h in held}
    finished = defaultdict(lambda: True)
    for h in held:
        finished[h.round_id] &= h.void or h.result is not None
    guesses = defaultdict(list)
    for member_id, match_id, home, away in Guess.objects.filter(match__tournament_id=tournament_id).values_list(
        "member_id", "match_id", "home_goals", "away_goals"
    ):
        guesses[member_id].append((position[match_id], by_id[match_id], (home, away)))
    members = set(Standing.objects.filter(tournament_id=tournament_id).values_list("member_id", flat=True))
    found: dict[tuple[int, str], int] = {}
    for member_id in members:
        run = 0
        rounds = defaultdict(list)
        for _, h, guess in sorted(guesses.get(member_id, ())):
            exact = h.result is not None and guess == h.result
            if exact and (member_id, FIRST_EXACT) not in found:
                found[(member_id, FIRST_EXACT)] = h.match_id
            run = run + 1 if exact else 0
            if run >= 3 and (member_id, HAT_TRICK) not in found:
                found[(member_id, HAT_TRICK)] = h.match_id
            if finished[h.round_id] and not h.void:
                rounds[h.round_id].append(_sign(guess[0] - guess[1]) == _sign(h.result[0] - h.result[1]))
        perfect = sorted(r for r, scored in rounds.items() if len(scored) >= 3 and all(scored))
        if perfect:
            found[(member_id, PERFECT_ROUND)] = perfect[0]
    return found


def match_achievements_sync(*, tournament_id: int) -> tuple[list[tuple[int, str]], int]:
    """Make the stored match achievements those computed; returns (earned, number taken back)."""
    computed = match_achievements_computed(tournament_id=tournament_id)
    earned: list[tuple[int, str]] = []
    with transaction.atomic():
        stored = {
            (row.member_id, row.code): row
            for row in Achievement.objects.select_for_update().filter(tournament_id=tournament_id, code__in=MATCH_CODES)
        }
        gone = [row.pk for key, row in stored.items() if key not in computed]
        Achievement.objects.filter(pk__in=gone).delete()
        now = timezone.now()
        for (member_id, code), source in computed.items():
            column = "round_id" if code == PERFECT_ROUND else "match_id"
            row = stored.get((member_id, code))
            if row is None:
                Achievement.objects.create(
                    tournament_id=tournament_id, member_id=member_id, code=code, earned_at=now, **{column: source}
                )
                earned.append((member_id, code))
            elif getattr(row, column) != source:
                Achievement.objects.filter(pk=row.pk).update(**{column: source})
    return earned, len(gone)
