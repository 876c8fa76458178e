"""Standings: opened when a member joins a tournament, moved by settlement and score actions."""

from apps.leaderboards.models import Standing


def standing_open(*, tournament_id: int, member_id: int) -> Standing:
    """Give a new participant a zero standing so every board counts and lists them."""
    standing, _ = Standing.objects.get_or_create(tournament_id=tournament_id, member_id=member_id)
    return standing
