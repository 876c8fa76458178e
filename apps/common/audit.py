"""The audit trail: who changed what that moves points or access, and what it did (issue 13).

`audit_record` is the one way to write an entry; every app calls it inside the
transaction of the change it records, so both commit or neither does.
`audit_entry_list` reads the trail for the admin API.

Actors are labels, not keys (see `AuditEntry`):

- `staff:12 alice`: a staff member acting through the admin or the staff API;
- `member:34 bob`: a member acting on what they own (a league's invite code);
- `feed:openfootball`: an ingestion run, named by its provider;
- `command:rebuild_leaderboards`: a management command run on a server;
- `system`: anything else (a shell, a script).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from apps.common import request_id
from apps.common.models import AuditEntry

SYSTEM = "system"


class Action:
    """The actions recorded; `AuditEntry.action` holds one of these."""

    RESULT_CHANGED = "result_changed"
    SCORING_CHANGED = "scoring_changed"
    MULTIPLIER_CHANGED = "multiplier_changed"
    MATCH_SETTLED_MANUALLY = "match_settled_manually"
    INGESTION_TRIGGERED = "ingestion_triggered"
    EXECUTION_RETRIED = "execution_retried"
    SETTLEMENT_RETRIED = "settlement_retried"
    LEADERBOARD_REBUILT = "leaderboard_rebuilt"
    LEAGUE_CODE_ROTATED = "league_code_rotated"
    LEAGUE_MEMBER_REMOVED = "league_member_removed"
    SCORE_ACTION_CHANGED = "score_action_changed"
    RANK_SNAPSHOT_REQUESTED = "rank_snapshot_requested"
    QUESTION_CHANGED = "question_changed"
    QUESTION_SETTLED = "question_settled"

    ALL = (
        RESULT_CHANGED,
        SCORING_CHANGED,
        MULTIPLIER_CHANGED,
        MATCH_SETTLED_MANUALLY,
        INGESTION_TRIGGERED,
        EXECUTION_RETRIED,
        SETTLEMENT_RETRIED,
        LEADERBOARD_REBUILT,
        LEAGUE_CODE_ROTATED,
        LEAGUE_MEMBER_REMOVED,
        SCORE_ACTION_CHANGED,
        RANK_SNAPSHOT_REQUESTED,
        QUESTION_CHANGED,
        QUESTION_SETTLED,
    )


def audit_actor(actor) -> str:
    """The label an entry records for `actor`: a label as it is, a user as `staff:<id> <username>`, None as `system`.

    A user who is not staff is `member:<id> <username>`. Taking either form lets
    services accept the `changed_by` user their callers already pass.
    """
    if actor is None:
        return SYSTEM
    if isinstance(actor, str):
        return actor[:200] or SYSTEM
    pk = getattr(actor, "pk", None)
    if pk is None:
        # AnonymousUser: nobody signed in, which only a script does.
        return SYSTEM
    role = "staff" if getattr(actor, "is_staff", False) else "member"
    return f"{role}:{pk} {actor.get_username()}"[:200]


def audit_target(target) -> tuple[str, str]:
    """(target_type, target_id) of a model instance (`match`, `42`), or of a (type, id) pair as given."""
    if isinstance(target, tuple):
        target_type, target_id = target
        return str(target_type), str(target_id)
    return target._meta.model_name, str(target.pk)


def audit_record(*, actor, action: str, target, before: dict | None = None, after: dict | None = None) -> AuditEntry:
    """Write one entry in the caller's transaction, with the id of the request (or job) behind it.

    `actor`: a label or a user (`audit_actor`); `target`: a saved model
    instance or a (type, id) pair; `before`/`after`: what the change moved,
    as JSON-able dicts (None where there was nothing before or after).
    """
    if action not in Action.ALL:
        # A typo would file entries where no filter finds them.
        raise ValueError(f"Unknown audit action {action!r}.")
    target_type, target_id = audit_target(target)
    return AuditEntry.objects.create(
        actor=audit_actor(actor),
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        request_id=request_id.current() or "",
    )


def audit_entry_list(
    *,
    actor: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Entries newest first, narrowed by whichever filters are given.

    `actor` matches a label exactly or its id part: `staff:12` finds
    `staff:12 alice` (a username may change; the id does not).
    """
    entries = AuditEntry.objects.order_by("-id")
    if actor:
        entries = entries.filter(Q(actor=actor) | Q(actor__startswith=f"{actor} "))
    if action:
        entries = entries.filter(action=action)
    if target_type:
        entries = entries.filter(target_type=target_type)
    if target_id:
        entries = entries.filter(target_id=target_id)
    if since is not None:
        entries = entries.filter(at__gte=since)
    return entries
