"""Standings: opened when a member joins a tournament, moved by settlement and score actions."""

from django.db import transaction

from apps.leaderboards.boards.projection_read import projection_enabled, projection_ready, redis_available
from apps.leaderboards.boards.projection_write import projection_member_add
from apps.leaderboards.boards.services import projection_rebuild_enqueue
from apps.leaderboards.models import Standing


def standing_open(*, tournament_id: int, member_id: int) -> Standing:
    """Give a new participant a zero standing so every board counts and lists them.

    The projection learns of the member after the standing commits (a rolled
    back join never shows on a board). A tournament whose sets were never built
    is built once instead.
    """
    standing, created = Standing.objects.get_or_create(tournament_id=tournament_id, member_id=member_id)
    if created and projection_enabled():
        transaction.on_commit(lambda: _project_new_member(tournament_id=tournament_id, member_id=member_id))
    return standing


def _project_new_member(*, tournament_id: int, member_id: int) -> None:
    if projection_ready(tournament_id=tournament_id):
        projection_member_add(tournament_id=tournament_id, member_id=member_id)
    elif redis_available():
        projection_rebuild_enqueue(tournament_id=tournament_id)
