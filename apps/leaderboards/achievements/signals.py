"""What achievements tell whoever listens: `achievement_earned(tournament_id=..., earned=[(member_id, code), ...])`.

Sent after the transaction that stored the achievements has committed, in
batches of at most `BATCH` pairs (a first settlement may hand first_exact to a
hundred thousand members at once). The member's own live stream is meant to
listen and push `{"type": "achievement", ...}` to connected members; the
sender never depends on a receiver: whatever one raises is logged, because
the achievements are stored whatever happens to their announcement.
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

BATCH = 5_000

achievement_earned = Signal()


def achievement_earned_send(*, tournament_id: int, earned: list[tuple[int, str]]) -> None:
    """Announce achievements just earned in `tournament_id`. Never raises."""
    for start in range(0, len(earned), BATCH):
        batch = earned[start : start + BATCH]
        for _, response in achievement_earned.send_robust(sender=None, tournament_id=tournament_id, earned=batch):
            if isinstance(response, Exception):
                logger.error("a receiver of achievement_earned failed for %s achievements", len(batch), exc_info=response)
