"""Writes about tournaments: taking part, scoring settings, round multipliers and results.

Every write that changes what a settled match is worth asks for settlement in
its own transaction: the result version moves and `signals.settlement_asked`
is sent, on which the leaderboards write their settlement request, so
settlement moves each standing by (new points - old points) from what the
previous request applied.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.common.audit import Action, audit_record
from apps.common.errors import ApplicationError, NotFound
from apps.matches.models import Match, Participation, Round, SettlementKind, Tournament
from apps.matches.selectors import tournament_get
from apps.matches.signals import participant_joined, settlement_asked

logger = logging.getLogger(__name__)

# The scores settlement reads: the regular and the extra-time score. Penalty
# shoot-out goals never count, so a change of them alone settles nothing.
RESULT_FIELDS = ("home_score", "away_score", "home_score_et", "away_score_et")
SCORING_FIELDS = (
    "points_exact",
    "points_goal_difference",
    "points_outcome",
    "counted_result",
    "lock_minutes",
    "jokers_per_round",
)
# Settings that decide points; lock_minutes only moves the guess window, and jokers_per_round
# limits jokers still to be set (jokers already placed keep their points).
POINTS_FIELDS = ("points_exact", "points_goal_difference", "points_outcome")


def participation_join(*, tournament_id: int, member_id: int) -> Participation:
    """Make the member a participant of the tournament; joining again returns the first participation.

    The participation and the zero standing commit together, so every
    participant is on the boards and nobody is on a board without taking part.
    """
    with transaction.atomic():
        participation, _ = Participation.objects.get_or_create(tournament_id=tournament_id, member_id=member_id)
        # Also on a repeated join: the standing it opens is idempotent and heals
        # a participant left without one.
        participant_joined.send(sender=Participation, tournament_id=tournament_id, member_id=member_id)
    return participation


def tournament_join(*, tournament_id: int, member_id: int) -> Participation:
    """The join endpoint: NotFound for an unknown tournament, else `participation_join`."""
    tournament_get(tournament_id=tournament_id)
    return participation_join(tournament_id=tournament_id, member_id=member_id)


# --- result changes -----------------------------------------------------------


def match_has_result(*, match: Match) -> bool:
    """Whether the match is finished or in play with a regular-time score: the states settlement awards points for."""
    return _scored(match.status, match.home_score, match.away_score)


def _scored(status: str, home_score: int | None, away_score: int | None) -> bool:
    return status in Match.SCORED_STATUSES and home_score is not None and away_score is not None


def _counted_before(*, match: Match, before: dict) -> tuple[int, int]:
    """The counted score the snapshot `before` showed, by the match's tournament's rule."""
    was = Match(
        **{field: before[field] for field in RESULT_FIELDS}, tournament=match.tournament, status=before["status"]
    )
    return was.counted_score()


# What an audit entry of a result change shows before and after: every score, penalties included.
AUDITED_RESULT_FIELDS = ("status", *RESULT_FIELDS, "home_penalties", "away_penalties", "result_version")


def match_result_snapshot(*, match: Match) -> dict:
    """What `match_result_save` compares against and audits: the match's status, scores and result version."""
    return {field: getattr(match, field) for field in AUDITED_RESULT_FIELDS}


def _result_audit(*, match: Match, before: dict | None, actor) -> None:
    audit_record(
        actor=actor,
        action=Action.RESULT_CHANGED,
        target=match,
        before=before,
        after=match_result_snapshot(match=match),
    )


def match_result_save(
    *, match: Match, before: dict | None, update_fields: list[str] | None = None, actor=None
) -> str | None:
    """Save `match`, whose status or scores may differ from `before`, and ask for its settlement when they do.

    The one rule for every result change, whoever makes it (ingestion, staff):
    a match that becomes finished with a result, or whose counted scores change
    while finished, is settled; a match that becomes cancelled or abandoned
    after it held a result is reversed. Either way the result version moves and
    the settlement request is written in the caller's transaction, so the
    change and the request commit together. `before` is a
    `match_result_snapshot` taken before the change (None for a new match);
    `update_fields` limits the save to the fields changed (None saves all).
    Returns the kind of request written, or None.

    A change that moves the result version is audited (`result_changed`) in
    the same transaction, naming `actor`: the feed (`feed:<provider>`) or the
    staff member. Staff corrections are audited even when they settle
    nothing (`match_result_correct`).

    A match in play settles provisionally (SCORING.md "In-play"): kickoff
    with a score, every change of its *counted* score (a goal, a goal
    disallowed) and the final whistle each move the version, so the boards
    follow the game goal by goal and the final result settles by the
    difference from the last provisional one. Extra-time goals of a
    tournament that counts regular time change no counted score, so they
    move nothing. A match that leaves play without a result (abandoned,
    cancelled, or back to scheduled or postponed) gives its points back.
    """
    was_counted = before is not None and _scored(before["status"], before["home_score"], before["away_score"])
    kind = None
    if match_has_result(match=match):
        if not was_counted or before["status"] != match.status:
            kind = SettlementKind.SETTLE
        elif match.status == Match.Status.LIVE:
            # In play only the counted score matters: a running extra-time
            # score under "regular" must not move a version per goal.
            if _counted_before(match=match, before=before) != match.counted_score():
                kind = SettlementKind.SETTLE
        elif any(getattr(match, field) != before[field] for field in RESULT_FIELDS):
            # Finished: any score settlement might read, so a later change of
            # `counted_result` finds every result already settled as it stands.
            kind = SettlementKind.SETTLE
    elif match.pk is not None and (
        match.status in Match.VOID_STATUSES or (before is not None and before["status"] == Match.Status.LIVE)
    ):
        # Points may be held even when the columns no longer show a result
        # (finished, then live again, then cancelled): the last ask decides.
        if was_counted or match.settlement_kind == SettlementKind.SETTLE:
            kind = SettlementKind.REVERSE
    if kind:
        # The version moves before settlement is asked: the request's
        # idempotency key names the version it settles.
        match.result_version += 1
        match.settlement_kind = kind
    if match.pk is None or update_fields is None:
        match.save()
    else:
        extra = ["result_version", "settlement_kind"] if kind else []
        match.save(update_fields=[*dict.fromkeys([*update_fields, *extra, "updated_at"])])
    if kind:
        _result_audit(match=match, before=before, actor=actor)
        settlement_asked.send(sender=Match, match=match, kind=kind)
    return kind


def match_settlement_kind_note(*, match: Match, kind: str) -> None:
    """Record on the match what settlement was last asked for, when it was asked without `match_result_save`.

    `match_result_save` notes it itself; staff's "settle again" and direct
    writes of a settlement request come through here, so the match always
    tells whether its points are held (SETTLE) or taken back (REVERSE).
    """
    if match.settlement_kind != kind:
        Match.objects.filter(pk=match.pk).update(settlement_kind=kind)
        match.settlement_kind = kind


def match_settled_mark(*, match_id: int, result_version: int) -> None:
    """Settlement awarded the points of `result_version`: the match counts as settled while that version stands.

    Called by settlement in the transaction that finishes its request. Never
    moves back: a late finish of an older version leaves a newer mark alone.
    """
    Match.objects.filter(pk=match_id).filter(
        Q(settled_version__isnull=True) | Q(settled_version__lt=result_version)
    ).update(settled_version=result_version)
def match_guesses_reveal(*, match_id: int, now: datetime) -> None:
    """Record that everyone's guesses on the match are being shown, which closes its guess window for good.

    Only the first reveal's time is kept. Called before the guesses are read
    and committed on its own, so once any member could have seen the others'
    guesses, no guess on the match can be changed.
    """
    Match.objects.filter(pk=match_id, guesses_revealed_at__isnull=True).update(guesses_revealed_at=now)


def _tournament_lock(*, tournament_id: int) -> bool:
    """Lock the tournament row against other writers of its settings and results; False when it does not exist.

    FOR NO KEY UPDATE, not FOR UPDATE: it still queues behind ingestion (which
    takes FOR UPDATE) and other changes, but settlement batches running
    meanwhile, whose standing rows take key-share locks on the tournament, do
    not wait for it.
    """
    return Tournament.objects.select_for_update(no_key=True).filter(pk=tournament_id).exists()


def _optional_pair(home: int | None, away: int | None, what: str) -> None:
    if (home is None) != (away is None):
        raise ApplicationError("invalid_result", f"Give both {what} or neither.")
    if home is not None and (home < 0 or away < 0):
        raise ApplicationError("invalid_result", f"The {what} cannot be negative.")


def match_result_check(
    *,
    status: str,
    home_score: int | None,
    away_score: int | None,
    home_score_et: int | None = None,
    away_score_et: int | None = None,
    home_penalties: int | None = None,
    away_penalties: int | None = None,
) -> None:
    """Refuse a result staff could not mean: scores given for one side only, or a finished match without a score."""
    if status not in Match.Status.values:
        raise ApplicationError("invalid_result", f"Unknown match status {status!r}.")
    _optional_pair(home_score, away_score, "regular-time scores")
    _optional_pair(home_score_et, away_score_et, "extra-time scores")
    _optional_pair(home_penalties, away_penalties, "penalty shoot-out scores")
    if status == Match.Status.FINISHED and home_score is None:
        raise ApplicationError("invalid_result", "A finished match needs its regular-time score.")


@dataclass(frozen=True)
class ResultCorrection:
    match: Match
    kind: str | None  # "settle", "reverse", or None when nothing is to be settled


def match_result_correct(
    *,
    match_id: int,
    home_score: int | None,
    away_score: int | None,
    home_score_et: int | None = None,
    away_score_et: int | None = None,
    home_penalties: int | None = None,
    away_penalties: int | None = None,
    status: str = Match.Status.FINISHED,
    changed_by=None,
) -> ResultCorrection:
    """Staff set a match's result by hand, when the provider is wrong or has none.

    Same rule as ingestion (`match_result_save`): a changed result re-settles
    the match, a settled match made cancelled or abandoned is reversed.
    """
    wanted = {
        "status": status,
        "home_score": home_score,
        "away_score": away_score,
        "home_score_et": home_score_et,
        "away_score_et": away_score_et,
        "home_penalties": home_penalties,
        "away_penalties": away_penalties,
    }
    match_result_check(**wanted)
    with transaction.atomic():
        tournament_id = Match.objects.filter(pk=match_id).values_list("tournament_id", flat=True).first()
        if tournament_id is None:
            raise NotFound("match_not_found", "No match has this id.")
        # The tournament row first, as ingestion and scoring changes take it:
        # one writer of a tournament's results and settings at a time.
        _tournament_lock(tournament_id=tournament_id)
        match = Match.objects.select_for_update(no_key=True, of=("self",)).select_related("tournament").get(pk=match_id)
        before = match_result_snapshot(match=match)
        changed = [field for field, value in wanted.items() if getattr(match, field) != value]
        for field in changed:
            setattr(match, field, wanted[field])
        if changed and not match.result_by_hand:
            # Otherwise the next poll would put back the provider's result staff just corrected.
            match.result_by_hand = True
            changed.append("result_by_hand")
        kind = None
        if changed:
            kind = match_result_save(match=match, before=before, update_fields=changed, actor=changed_by)
            if kind is None:
                # A hand change that settles nothing (penalties, a status before kickoff) is still staff's change.
                _result_audit(match=match, before=before, actor=changed_by)
    logger.info(
        "match %s result set by hand to %s %s-%s (by %s): %s",
        match_id,
        status,
        home_score,
        away_score,
        getattr(changed_by, "pk", None),
        kind or "nothing to settle",
    )
    return ResultCorrection(match=match, kind=kind)


# --- scoring settings -------------------------------------------------------------


@dataclass(frozen=True)
class ScoringChange:
    changed: tuple[str, ...]  # the settings whose value moved
    resettled: int  # matches given a new settlement request


def _resettle(*, matches) -> int:
    """Write a settle request at a new result version for every settled match in `matches`.

    A match counts as settled once settlement was asked for its result, not
    only once it is done: a request claimed before this transaction commits
    has fixed the old settings, and a newer request supersedes one still
    pending at no cost. Call inside the transaction that changed the
    settings, with the tournament row locked.
    """
    ids = list(
        matches.filter(status__in=Match.SCORED_STATUSES, home_score__isnull=False, away_score__isnull=False)
        .exclude(settlement_kind="")
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not ids:
        return 0
    Match.objects.filter(pk__in=ids).update(
        result_version=F("result_version") + 1, settlement_kind=SettlementKind.SETTLE, updated_at=timezone.now()
    )
    for match in Match.objects.filter(pk__in=ids).order_by("id"):
        settlement_asked.send(sender=Match, match=match, kind=SettlementKind.SETTLE)
    return len(ids)


def _invalid(exc: ValidationError) -> ApplicationError:
    return ApplicationError("invalid_scoring", " ".join(exc.messages))


def tournament_scoring_update(*, tournament_id: int, changes: dict, changed_by=None) -> ScoringChange:
    """Change a tournament's scoring settings; a change that moves points re-settles every settled match.

    The settings, the new result versions and the settlement requests commit
    together. Settlement reads the settings when it claims a request and moves
    each standing by (new - old), so one request per settled match is the
    whole re-settlement. lock_minutes moves only the guess window.
    """
    unknown = set(changes) - set(SCORING_FIELDS)
    if unknown:
        raise ApplicationError("invalid_scoring", f"Not a scoring setting: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        # Serialises scoring changes, result corrections and ingestion runs of the tournament.
        if not _tournament_lock(tournament_id=tournament_id):
            raise NotFound("tournament_not_found", "No tournament has this id.")
        tournament = Tournament.objects.get(pk=tournament_id)
        was = {field: getattr(tournament, field) for field in SCORING_FIELDS}
        changed = tuple(
            field for field in SCORING_FIELDS if field in changes and getattr(tournament, field) != changes[field]
        )
        if not changed:
            return ScoringChange(changed=(), resettled=0)
        for field in changed:
            setattr(tournament, field, changes[field])
        try:
            tournament.full_clean(exclude=[f.name for f in Tournament._meta.fields if f.name not in SCORING_FIELDS])
        except ValidationError as exc:
            raise _invalid(exc) from None
        tournament.save(update_fields=[*changed, "updated_at"])
        matches = Match.objects.filter(tournament_id=tournament_id)
        if set(changed) & set(POINTS_FIELDS):
            resettled = _resettle(matches=matches)
        elif "counted_result" in changed:
            # Which score counts differs only where extra time was played.
            resettled = _resettle(matches=matches.filter(home_score_et__isnull=False, away_score_et__isnull=False))
        else:
            resettled = 0
        audit_record(
            actor=changed_by,
            action=Action.SCORING_CHANGED,
            target=tournament,
            before={field: was[field] for field in changed},
            after={**{field: getattr(tournament, field) for field in changed}, "resettled": resettled},
        )
    logger.info(
        "tournament %s scoring changed (%s) by %s: %s matches to re-settle",
        tournament_id,
        ", ".join(f"{field}={changes[field]}" for field in changed),
        getattr(changed_by, "pk", None),
        resettled,
    )
    return ScoringChange(changed=changed, resettled=resettled)


def round_multiplier_update(*, round_id: int, multiplier: int, changed_by=None) -> ScoringChange:
    """Change a round's multiplier; every settled match of the round is re-settled with it."""
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or not 1 <= multiplier <= 10:
        raise ApplicationError("invalid_multiplier", "A round's multiplier is a whole number from 1 to 10.")
    with transaction.atomic():
        tournament_id = Round.objects.filter(pk=round_id).values_list("tournament_id", flat=True).first()
        if tournament_id is None:
            raise NotFound("round_not_found", "No round has this id.")
        # The tournament row first, in the same order as every other scoring or result change.
        _tournament_lock(tournament_id=tournament_id)
        # Not locked FOR UPDATE: a settlement claim holds its match row and then
        # takes a key-share lock on the round it names, while this transaction
        # waits for that match row: a deadlock. The tournament row already
        # serialises every writer of the multiplier.
        round_ = Round.objects.get(pk=round_id)
        if round_.multiplier == multiplier:
            return ScoringChange(changed=(), resettled=0)
        was = round_.multiplier
        round_.multiplier = multiplier
        round_.save(update_fields=["multiplier"])
        resettled = _resettle(matches=Match.objects.filter(round_id=round_id))
        audit_record(
            actor=changed_by,
            action=Action.MULTIPLIER_CHANGED,
            target=round_,
            before={"multiplier": was},
            after={"multiplier": multiplier, "resettled": resettled},
        )
    logger.info(
        "round %s multiplier changed to %s by %s: %s matches to re-settle",
        round_id,
        multiplier,
        getattr(changed_by, "pk", None),
        resettled,
    )
    return ScoringChange(changed=("multiplier",), resettled=resettled)
