"""Reads of achievements (API.md "Leaderboards": a member's achievements, the catalogue)."""

from apps.common.errors import NotFound
from apps.leaderboards.achievements.catalogue import BY_CODE, CATALOGUE
from apps.leaderboards.models import Achievement, Standing
from apps.matches.selectors import tournament_get


def achievement_catalogue(*, tournament_id: int) -> list[dict]:
    """[{code, name, description}] of every achievement; NotFound for an unknown tournament."""
    tournament_get(tournament_id=tournament_id)
    return [{"code": e.code, "name": e.name, "description": e.description} for e in CATALOGUE]


def member_achievements(*, tournament_id: int, member_id: int) -> list[dict]:
    """[{code, name, earned_at}] of a participant, oldest first.

    NotFound `tournament_not_found`, or `not_participating` when the member
    has no standing in the tournament (the rule of member stats).
    """
    tournament_get(tournament_id=tournament_id)
    if not Standing.objects.filter(tournament_id=tournament_id, member_id=member_id).exists():
        raise NotFound("not_participating", "This member does not take part in this tournament.")
    rows = (
        Achievement.objects.filter(tournament_id=tournament_id, member_id=member_id)
        .order_by("earned_at", "code")
        .values_list("code", "earned_at")
    )
    return [{"code": code, "name": BY_CODE[code].name, "earned_at": earned_at} for code, earned_at in rows]
