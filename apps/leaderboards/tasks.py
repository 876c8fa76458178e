"""The leaderboards' Celery tasks, where Celery's autodiscovery looks for them.

They live with the package whose services they call: `boards.tasks` (projection
rebuilds), `boards.snapshots.tasks` (rank snapshots) and `settlement.tasks`
(settlement, score awards, the sweeper).
"""

from apps.leaderboards.boards.snapshots.tasks import rank_snapshot_record, rank_snapshots_daily
from apps.leaderboards.boards.tasks import projection_rebuild
from apps.leaderboards.settlement.tasks import (
    question_settlement_run,
    score_action_apply,
    score_actions_apply,
    score_projection_flush,
    settlement_run,
    settlement_sweep,
)

__all__ = [
    "projection_rebuild",
    "question_settlement_run",
    "rank_snapshot_record",
    "rank_snapshots_daily",
    "score_action_apply",
    "score_actions_apply",
    "score_projection_flush",
    "settlement_run",
    "settlement_sweep",
]
