"""Writes that repair the projection: a tournament rebuild asked for once, a league set built on demand.

Reads never write (see `selectors`): a read that finds a board's Redis set
missing says so, and the API view calls `board_projection_repair`.
"""

import logging

from apps.leaderboards.boards import tasks
from apps.leaderboards.boards.keys import LEAGUE, BoardKey, rebuild_queued_key
from apps.leaderboards.boards.projection_read import RedisError, projection_enabled, redis_client, redis_failed
from apps.leaderboards.boards.projection_write import projection_league_build

logger = logging.getLogger(__name__)

# A rebuild asked for while one is queued or running is the same rebuild.
REBUILD_DEDUP_SECONDS = 30


def projection_rebuild_enqueue(*, tournament_id: int) -> None:
    """Ask for a rebuild of a tournament's projection, once however many callers ask at the same time."""
    if not projection_enabled():
        return
    try:
        fresh = redis_client().set(rebuild_queued_key(tournament_id), 1, nx=True, ex=REBUILD_DEDUP_SECONDS)
    except RedisError as exc:
        # Redis is away: the sweeper asks again for every stale tournament.
        redis_failed(exc)
        return
    if fresh:
        try:
            tasks.projection_rebuild.apply_async(kwargs={"tournament_id": tournament_id}, queue="settlement")
        except Exception as exc:
            logger.error("could not enqueue the rebuild of tournament %s (the sweeper will): %s", tournament_id, exc)


def board_projection_repair(*, board: BoardKey) -> bool:
    """Bring a board's Redis set back after a read found it missing or out of date; True when it is back now.

    A league's set is built here and now when the tournament lock is free (a
    small league costs one query; a busy lock leaves it to the next read);
    a tournament's or round's set comes back with a rebuild of the tournament,
    in the background.
    """
    if not projection_enabled():
        return False
    if board.kind == LEAGUE:
        try:
            return projection_league_build(tournament_id=board.tournament, league_id=board.id)
        except RedisError as exc:
            redis_failed(exc)
            return False
    projection_rebuild_enqueue(tournament_id=board.tournament)
    return False
