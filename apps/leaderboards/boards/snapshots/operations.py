"""What staff start: a rank snapshot now (API and admin), audited."""

import uuid

from django.db import transaction

from apps.common.audit import Action, audit_record
from apps.leaderboards.boards.snapshots.tasks import rank_snapshot_record
from apps.leaderboards.models import RankSnapshot
from apps.matches.selectors import tournament_get


def snapshot_request(*, tournament_id: int, actor=None) -> str:
    """Queue a staff snapshot of the tournament's ranks; returns the job id.

    NotFound `tournament_not_found` for an unknown tournament. The audit entry
    (`rank_snapshot_requested`, naming the job) commits before the job is sent.
    """
    tournament = tournament_get(tournament_id=tournament_id)
    job_id = str(uuid.uuid4())
    with transaction.atomic():
        audit_record(
            actor=actor, action=Action.RANK_SNAPSHOT_REQUESTED, target=tournament, after={"job_id": job_id}
        )
        transaction.on_commit(
            lambda: rank_snapshot_record.apply_async(
                kwargs={"tournament_id": tournament.pk, "trigger": RankSnapshot.Trigger.STAFF},
                task_id=job_id,
                queue="settlement",
            )
        )
    return job_id
