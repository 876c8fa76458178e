"""What boards tell whoever listens: `boards_changed(boards=[BoardKey, ...])`.

Sent by settlement and score actions after the transaction that moved the
standings has committed (and the projection has the new totals). The live
push listens; the sender never depends on it: `boards_changed_send` swallows
and logs whatever a receiver raises, because the change is committed whatever
happens to its announcement.
"""

import logging
from collections.abc import Iterable

from django.dispatch import Signal

from apps.leaderboards.boards.keys import BoardKey

logger = logging.getLogger(__name__)

boards_changed = Signal()


def boards_changed_send(*, boards: Iterable[BoardKey]) -> None:
    """Announce changed boards. Never raises."""
    boards = sorted(set(boards), key=str)
    if not boards:
        return
    for receiver, response in boards_changed.send_robust(sender=BoardKey, boards=boards):
        if isinstance(response, Exception):
            logger.error("a receiver of boards_changed failed for %s boards", len(boards), exc_info=response)
