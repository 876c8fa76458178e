"""The live publisher: settlement publishes, every web process fans out to its clients (see `hub`).

Settlement and score actions send `boards.signals.boards_changed` after their
transaction commits, with the boards whose standings moved; `boards_changed`
here receives it. Boards travel by their public names ("tournament:{id}",
"league:{id}", see `boards.keys.BoardKey`).

With Redis (REDIS_URL set):
- Each web process keeps one `_Hub` on its event loop. The hub holds one
  channel on the Channels layer and joins a group per board that has local
  clients, so a message crosses Redis once per process, not once per client.
- The hub registers each board it holds in Redis (`lb:live:boards`, scored
  by expiry, and `lb:live:subs:{board}`, a count per process) and refreshes
  the entries while it holds clients: a crashed process stops counting once
  its entries expire.
- `boards_changed` skips boards nobody watches, compares the new top 10 with
  the last one published (`lb:live:last:{board}`, swapped atomically) and
  sends the update only when it differs. The JSON text is built once there;
  processes forward it to WebSocket clients as-is and wrap it once for SSE.
  When the top 10 did not change it sends a `live.version` message instead
  (board and version, a few bytes): members' own streams further down the
  board may have moved, and the processes holding them read their ranks.
  A board followed only by members' own streams (registered apart, in
  `lb:live:own`) gets its `live.version` message without a top-10 read.

Embedded (no REDIS_URL): the channel layer is in-memory and settlement may run
in another process, so each web process re-reads the top 10 of the boards its
clients watch every LIVE_POLL_SECONDS and publishes changes to them itself;
`boards_changed` in the same process asks for an immediate re-read.

Versions are the board's own version (it grows with every change of the
board, also outside the top 10). An update carries `previous_version`, the
version of the update published before it: a client whose version is lower
missed one and reloads the snapshot.
"""

import asyncio
import json
import logging
import time
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.dispatch import receiver

from apps.leaderboards.boards.keys import LEAGUE, TOURNAMENT, BoardKey
from apps.leaderboards.boards.selectors import board_versions, leaderboard_top
from apps.leaderboards.boards.signals import boards_changed as boards_changed_signal
from apps.leaderboards.live import registry
from apps.leaderboards.live.frames import UPDATE_MESSAGE, VERSION_MESSAGE, Frame, canonical
from apps.leaderboards.live.hub import current_hub
from apps.leaderboards.live.metrics import LIVE_PUBLISHED

logger = logging.getLogger(__name__)

# Boards with a live stream; round tables have none.
LIVE_KINDS = (TOURNAMENT, LEAGUE)


@receiver(boards_changed_signal, dispatch_uid="live.boards_changed")
def _on_boards_changed(*, boards: Iterable[BoardKey], **kwargs) -> None:
    boards_changed(boards=boards)


def boards_changed(*, boards: Iterable[BoardKey]) -> None:
    """Publish the new top 10 of each board whose top 10 changed and that has live subscribers.

    Call after the transaction that moved the standings has committed. Never
    raises: the change is committed whatever happens here, and a client that
    misses an update catches up with the next one or on reconnecting.
    """
    committed_at = time.time()
    keys = {str(board): board for board in boards if board.kind in LIVE_KINDS}
    boards = list(keys)
    if not boards:
        return
    try:
        store = registry.store()
        if store is None:
            _embedded_refresh(boards)
            return
        _publish(store, boards, committed_at, keys)
    except Exception:
        logger.exception("live top-10 publishing failed for %d boards", len(boards))


def _publish(store: registry.RedisStore, boards: list[str], committed_at: float, keys: dict[str, BoardKey]) -> None:
    watched = store.boards_watched(boards)
    unwatched = [board for board in boards if board not in set(watched)]
    if unwatched:
        # Nobody sees these boards' top 10, so nothing was published to compare
        # with later: a stale entry could hide the next change from a new client.
        store.baselines_drop(unwatched)
    messages = []
    own_only = store.boards_watched(unwatched, own=True) if unwatched else []
    if own_only:
        versions = board_versions(boards=[keys[board] for board in own_only])
        messages += [
            (BoardKey.parse(board).group, {"type": VERSION_MESSAGE, "board": board, "version": versions[board]})
            for board in own_only
        ]
    for board in watched:
        version, rows = leaderboard_top(board=BoardKey.parse(board))
        changed, previous_version, previous_top = store.baseline_swap(board, version, canonical(rows))
        if not changed:
            # Also sent for a version published already (another settlement
            # got there first): a hub ignores versions it has fanned out.
            version_message = {"type": VERSION_MESSAGE, "board": board, "version": version}
            messages.append((BoardKey.parse(board).group, version_message))
            continue
        frame = Frame.update_of(
            board=board,
            version=version,
            previous_version=previous_version,
            rows=rows,
            old_rows=json.loads(previous_top) if previous_top else None,
            committed_at=committed_at,
        )
        messages.append(
            (
                BoardKey.parse(board).group,
                {
                    "type": UPDATE_MESSAGE,
                    "board": board,
                    "version": version,
                    "text": frame.text,
                    "committed_at": committed_at,
                },
            )
        )
    if not messages:
        return
    group_send_all(messages)
    for _, message in messages:
        if message["type"] == UPDATE_MESSAGE:
            LIVE_PUBLISHED.labels(BoardKey.parse(message["board"]).kind).inc()


def group_send_all(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()

    async def send_all():
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(send_all)()
        return
    # Called on an event loop's own thread: hand the sends to that loop.
    asyncio.get_running_loop().create_task(send_all())


def _embedded_refresh(boards: list[str]) -> None:
    hub = current_hub()
    if hub is None or hub.loop.is_closed():
        return
    hub.loop.call_soon_threadsafe(hub.refresh_soon, boards)
