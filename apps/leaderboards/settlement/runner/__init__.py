"""Settlement runners: one shared loop (`loop`), one job per subject (`matches`, `questions`)."""

from apps.leaderboards.settlement.runner.loop import UNFINISHED, ClaimLost, HandedBack, RunReport, batch_size
from apps.leaderboards.settlement.runner.matches import applied_request, applied_target, settlement_run
from apps.leaderboards.settlement.runner.questions import question_settlement_run

__all__ = [
    "UNFINISHED",
    "ClaimLost",
    "HandedBack",
    "RunReport",
    "applied_request",
    "applied_target",
    "batch_size",
    "question_settlement_run",
    "settlement_run",
]
