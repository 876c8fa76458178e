"""Live streams listen to leagues and members: access that ends closes the streams it opened.

A member removed from (or leaving) a league, and a member deactivated, loses
their open streams of the league boards at once, in every realtime process:
once the change commits, a `live.revoke` message goes to each board's group,
which the hub of every process holding the board has joined (`hub.revoke`);
the member's own stream stops following the league. A deactivated member's
own streams end too (`live.member_end` on the group every process holding
such streams joins), and a member who joins a tournament or a league has
their open own streams follow it (`live.member_board` on the same group).
Embedded (no Redis) everything runs in one process and its hub is told directly.
"""

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.live import registry
from apps.leaderboards.achievements.signals import achievement_earned
from apps.leaderboards.live.frames import (
    MEMBER_ACHIEVEMENTS_MESSAGE,
    MEMBER_BOARD_MESSAGE,
    MEMBER_END_MESSAGE,
    MEMBER_STREAMS_GROUP,
    REVOKE_MESSAGE,
)
from apps.leaderboards.live.hub import CLOSE_ACCESS_REVOKED, current_hub
from apps.leaderboards.live.publisher import group_send_all
from apps.leagues.selectors import league_list_for_member
from apps.leagues.signals import league_membership_changed
from apps.matches.signals import participant_joined
from apps.members.models import Member

logger = logging.getLogger(__name__)


@receiver(league_membership_changed, dispatch_uid="live.league_streams_close")
def _on_league_membership_changed(*, league_id: int, tournament_id: int, member_id: int, joined: bool, **kwargs) -> None:
    if joined:
        board = BoardKey.of_league(league_id, tournament_id)
        transaction.on_commit(lambda: member_board_follow(member_id=member_id, board=board))
        return
    # After the commit: a rolled-back removal keeps the member's streams.
    transaction.on_commit(lambda: member_streams_close(member_id=member_id, league_ids=[league_id]))


@receiver(participant_joined, dispatch_uid="live.tournament_follow")
def _on_participant_joined(*, tournament_id: int, member_id: int, **kwargs) -> None:
    board = BoardKey.of_tournament(tournament_id)
    transaction.on_commit(lambda: member_board_follow(member_id=member_id, board=board))


@receiver(post_save, sender=Member, dispatch_uid="live.deactivated_member_streams_close")
def _on_member_saved(*, instance: Member, created: bool, update_fields=None, **kwargs) -> None:
    if created or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    member_id = instance.pk
    transaction.on_commit(
        lambda: member_streams_close(
            member_id=member_id, league_ids=list(league_list_for_member(member_id=member_id).values_list("pk", flat=True))
        )
    )
    transaction.on_commit(lambda: member_own_streams_close(member_id=member_id))


def member_streams_close(*, member_id: int, league_ids: list[int]) -> None:
    """End `member_id`'s open streams of these leagues' boards in every realtime process (4403 / end of stream)."""
    boards = [str(BoardKey.of_league(league_id)) for league_id in league_ids]
    if not boards:
        return
    hub = current_hub()
    if hub is not None and hub.embedded and not hub.loop.is_closed():
        for board in boards:
            hub.loop.call_soon_threadsafe(hub.revoke, board, member_id, CLOSE_ACCESS_REVOKED)
    if registry.store() is not None:
        group_send_all(
            [
                (
                    BoardKey.parse(board).group,
                    {"type": REVOKE_MESSAGE, "board": board, "member_id": member_id, "code": CLOSE_ACCESS_REVOKED},
                )
                for board in boards
            ]
        )


def member_own_streams_close(*, member_id: int) -> None:
    """End `member_id`'s own-rank streams in every realtime process (4403 / end of stream)."""
    hub = current_hub()
    if hub is not None and hub.embedded and not hub.loop.is_closed():
        hub.loop.call_soon_threadsafe(hub.member_end, member_id, CLOSE_ACCESS_REVOKED)
    if registry.store() is not None:
        group_send_all(
            [(MEMBER_STREAMS_GROUP, {"type": MEMBER_END_MESSAGE, "member_id": member_id, "code": CLOSE_ACCESS_REVOKED})]
        )


def member_board_follow(*, member_id: int, board: BoardKey) -> None:
    """Have `member_id`'s open own-rank streams follow one more board, in every realtime process.

    Sent for a repeated join too: a stream that follows the board already ignores it.
    """
    hub = current_hub()
    if hub is not None and hub.embedded and not hub.loop.is_closed():
        hub.loop.call_soon_threadsafe(hub.member_board_follow, member_id, board)
    if registry.store() is not None:
        message = {"type": MEMBER_BOARD_MESSAGE, "member_id": member_id, "board": str(board), "tournament": board.tournament}
        try:
            group_send_all([(MEMBER_STREAMS_GROUP, message)])
        except Exception:
            # The join is committed; a stream open meanwhile follows the board after a reconnect.
            logger.warning("telling realtime processes that member %s joined %s failed", member_id, board, exc_info=True)


@receiver(achievement_earned, dispatch_uid="live.achievement_earned")
def _on_achievement_earned(*, tournament_id: int, earned: list, **kwargs) -> None:
    member_achievements_announce(tournament_id=tournament_id, earned=earned)


def member_achievements_announce(*, tournament_id: int, earned: list) -> None:
    """Tell every realtime process which members earned which achievements; each pushes them to the
    members' own streams it holds. One message per batch (the evaluation sends up to 5,000 pairs), never
    one per member. Never raises: the achievements are committed; a member offline sees them listed.
    """
    pairs = [[int(member_id), str(code)] for member_id, code in earned]
    if not pairs:
        return
    hub = current_hub()
    if hub is not None and hub.embedded and not hub.loop.is_closed():
        hub.loop.call_soon_threadsafe(hub.member_achievements, tournament_id, pairs)
    if registry.store() is not None:
        message = {"type": MEMBER_ACHIEVEMENTS_MESSAGE, "tournament": tournament_id, "earned": pairs}
        try:
            group_send_all([(MEMBER_STREAMS_GROUP, message)])
        except Exception:
            logger.warning("announcing %d achievements of tournament %s failed", len(pairs), tournament_id, exc_info=True)
