"""Writes about bonus questions: asking, editing, answering and settling (SCORING.md "Bonus questions").

Setting, changing or clearing a question's correct answer moves its
`answer_version` and sends `signals.question_settlement_asked` in the same
transaction, on which the leaderboards write the question's settlement
request: the change and the request commit together, and settlement moves
each standing by (new - old) from what the previous request applied.

What staff may edit, and when:
- `text` at any time;
- `closes_at` only while the question is open: once it has closed, answers
  may have been shown, and reopening would let members answer after seeing
  them;
- `kind` only while nobody has answered (the answers are of that kind);
- `points` at any time; on a settled question the change re-settles it, so
  standings move by the difference.
"""

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.common.audit import Action, audit_record
from apps.common.errors import ApplicationError, Conflict, NotFound
from apps.matches.models import BonusAnswer, BonusQuestion, Match, Team, Tournament
from apps.matches.question_selectors import bonus_question_closed, bonus_question_get
from apps.matches.services import participation_join
from apps.matches.signals import question_settlement_asked

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = ("text", "kind", "points", "closes_at", "answered_by")


def _values(question: BonusQuestion) -> dict:
    return {
        "tournament": question.tournament_id,
        "text": question.text,
        "kind": question.kind,
        "points": question.points,
        "closes_at": question.closes_at.isoformat() if question.closes_at else None,
        "correct_answer": question.correct_answer,
        "answer_version": question.answer_version,
        "answered_by": question.answered_by,
    }


def _full_clean(question: BonusQuestion) -> None:
    try:
        question.full_clean(exclude=["tournament", "correct_team"])
    except ValidationError as exc:
        raise ApplicationError("invalid_question", " ".join(exc.messages)) from None


def bonus_question_create(
    *,
    tournament_id: int,
    text: str,
    kind: str,
    points: int,
    closes_at: datetime,
    answered_by: str = BonusQuestion.AnsweredBy.STAFF,
    actor=None,
) -> BonusQuestion:
    """Ask a new question of a tournament; audited as `question_changed` (before None)."""
    if not Tournament.objects.filter(pk=tournament_id).exists():
        raise NotFound("tournament_not_found", "No tournament has this id.")
    question = BonusQuestion(
        tournament_id=tournament_id, text=text, kind=kind, points=points, closes_at=closes_at, answered_by=answered_by
    )
    _full_clean(question)
    with transaction.atomic():
        question.save()
        audit_record(actor=actor, action=Action.QUESTION_CHANGED, target=question, after=_values(question))
    return question


def bonus_question_update(*, question_id: int, changes: dict, actor=None, now: datetime | None = None) -> BonusQuestion:
    """Edit a question within the rules of the module docstring; audited as `question_changed`."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError("invalid_question", f"Not an editable field: {', '.join(sorted(unknown))}.")
    now = now or timezone.now()
    with transaction.atomic():
        question = BonusQuestion.objects.select_for_update().filter(pk=question_id).first()
        if question is None:
            raise NotFound("question_not_found", "No bonus question has this id.")
        before = _values(question)
        changed = [field for field in EDITABLE_FIELDS if field in changes and getattr(question, field) != changes[field]]
        if not changed:
            return question
        if "closes_at" in changed and bonus_question_closed(question=question, now=now):
            raise Conflict("question_closed", "A closed question's closing time cannot move: answers may have been shown.")
        if "kind" in changed and BonusAnswer.objects.filter(question_id=question_id).exists():
            raise Conflict("question_answered", "Members have answered this question: its kind cannot change.")
        for field in changed:
            setattr(question, field, changes[field])
        _full_clean(question)
        resettle = "points" in changed and question.is_settled
        if resettle:
            question.answer_version += 1
        question.save(update_fields=[*changed, *(["answer_version"] if resettle else []), "updated_at"])
        audit_record(actor=actor, action=Action.QUESTION_CHANGED, target=question, before=before, after=_values(question))
        if resettle:
            question_settlement_asked.send(sender=BonusQuestion, question=question)
    return question


def _question_key_share(*, question: BonusQuestion) -> datetime:
    """Take a key-share lock of the question; its `closes_at` as it stands under the lock."""
    if connection.vendor != "postgresql":
        return question.closes_at  # the embedded SQLite serialises writers itself
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT closes_at FROM {BonusQuestion._meta.db_table} WHERE id = %s FOR KEY SHARE", [question.pk]
        )
        return cursor.fetchone()[0]


def _answer_check(*, question: BonusQuestion, answer) -> tuple[int | None, int | None]:
    """(team id, number) of a valid answer to `question`; 400 `invalid_answer` otherwise."""
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise ApplicationError("invalid_answer", "The answer is a whole number: a team id or a number.")
    if question.kind == BonusQuestion.Kind.TEAM:
        if not Team.objects.filter(pk=answer, tournament_id=question.tournament_id).exists():
            raise ApplicationError("invalid_answer", "The answer must be a team of this question's tournament.")
        return answer, None
    if not 0 <= answer <= BonusQuestion.NUMBER_MAX:
        raise ApplicationError("invalid_answer", f"The answer must be a whole number from 0 to {BonusQuestion.NUMBER_MAX}.")
    return None, answer


def bonus_answer_submit(
    *, member_id: int, question_id: int, answer, now: datetime | None = None
) -> tuple[BonusAnswer, bool]:
    """Create or change the member's answer; returns (answer, created).

    Refused with Conflict("question_closed") from `closes_at` on the server
    clock. A first answer also makes the member a participant of the
    tournament, as a first guess does.
    """
    question = bonus_question_get(question_id=question_id)
    team_id, number = _answer_check(question=question, answer=answer)
    with transaction.atomic():
        # The window is judged under a key-share lock of the question: answers
        # never wait for each other, but a settle (FOR UPDATE, only once the
        # question has closed) waits for every answer in flight to commit, and
        # an answer arriving after it finds the question closed. So settlement
        # walks every answer there will ever be.
        question.closes_at = _question_key_share(question=question)
        if bonus_question_closed(question=question, now=now or timezone.now()):
            raise Conflict("question_closed", "This question has closed: answers can no longer be given or changed.")
        # Two requests of one member may race: the row lock serialises
        # changes, and a lost insert race changes the row the other created.
        row = BonusAnswer.objects.select_for_update().filter(question_id=question_id, member_id=member_id).first()
        created = False
        if row is None:
            try:
                with transaction.atomic():
                    row = BonusAnswer.objects.create(
                        question=question, member_id=member_id, team_id=team_id, number=number
                    )
                created = True
            except IntegrityError:
                row = BonusAnswer.objects.select_for_update().get(question_id=question_id, member_id=member_id)
        if created:
            participation_join(tournament_id=question.tournament_id, member_id=member_id)
        else:
            row.team_id, row.number = team_id, number
            row.save(update_fields=["team", "number", "updated_at"])
    row.question = question
    return row, created


def bonus_question_settle(*, question_id: int, answer, actor=None, now: datetime | None = None) -> BonusQuestion:
    """Set the correct answer (settle, or re-settle with another), or clear it with None (un-settle).

    Only a closed question is settled: answers are frozen from then on, so
    the settlement counts every answer once. The answer version moves and the
    settlement request is written in this transaction (the signal); audited
    as `question_settled`.
    """
    with transaction.atomic():
        question = BonusQuestion.objects.select_for_update().filter(pk=question_id).first()
        if question is None:
            raise NotFound("question_not_found", "No bonus question has this id.")
        if not bonus_question_closed(question=question, now=now or timezone.now()):
            raise Conflict("question_not_closed", "A question is settled only once it has closed.")
        before = _values(question)
        if answer is None:
            question.correct_team_id, question.correct_number = None, None
        else:
            question.correct_team_id, question.correct_number = _answer_check(question=question, answer=answer)
        question.answer_version += 1
        question.save(update_fields=["correct_team", "correct_number", "answer_version", "updated_at"])
        audit_record(actor=actor, action=Action.QUESTION_SETTLED, target=question, before=before, after=_values(question))
        question_settlement_asked.send(sender=BonusQuestion, question=question)
    logger.info(
        "bonus question %s %s (version %s) by %s",
        question_id,
        "un-settled" if answer is None else f"settled with {answer}",
        question.answer_version,
        getattr(actor, "pk", actor),
    )
    return question


def bonus_question_settled_mark(*, question_id: int, answer_version: int) -> None:
    """Settlement applied `answer_version`: answers show their points while that version stands. Never moves back."""
    BonusQuestion.objects.filter(pk=question_id).filter(
        Q(settled_version__isnull=True) | Q(settled_version__lt=answer_version)
    ).update(settled_version=answer_version)


def _final_answers(*, tournament_id: int) -> dict[str, int] | None:
    """What the tournament's final says: its winner and its goals (extra time included, penalties not).

    The final is the tournament's last match by kickoff; None until it is
    finished with a winner (a final is never left drawn: extra time, then
    penalties).
    """
    final = Match.objects.filter(tournament_id=tournament_id).order_by("-kickoff_at", "-id").first()
    if final is None or final.status != Match.Status.FINISHED or final.home_score is None:
        return None
    played = (
        (final.home_score_et, final.away_score_et)
        if final.home_score_et is not None and final.away_score_et is not None
        else (final.home_score, final.away_score)
    )
    order = (*played, final.home_penalties or 0, final.away_penalties or 0)
    if played[0] != played[1]:
        winner = final.home_team_id if played[0] > played[1] else final.away_team_id
    elif order[2] != order[3]:
        winner = final.home_team_id if order[2] > order[3] else final.away_team_id
    else:
        return None
    return {
        BonusQuestion.AnsweredBy.TOURNAMENT_WINNER: winner,
        BonusQuestion.AnsweredBy.FINAL_GOALS: min(played[0] + played[1], BonusQuestion.NUMBER_MAX),
    }


def bonus_questions_settle_from_final(*, tournament_id: int, actor=None, now: datetime | None = None) -> int:
    """Settle the questions the final answers (`answered_by`), once it is finished; returns how many.

    One still open is closed first: with the final played its answer is
    known, so no answer may be given or changed any more (a replay plays a
    tournament faster than the closing time set when it was loaded). A
    question already holding the final's answer is left alone, so calling
    this again (a feed polling, a replay ending twice) settles nothing twice.
    """
    answers = _final_answers(tournament_id=tournament_id)
    if answers is None:
        return 0
    now = now or timezone.now()
    settled = 0
    questions = BonusQuestion.objects.filter(tournament_id=tournament_id, answered_by__in=list(answers))
    for question in questions:
        answer = answers[question.answered_by]
        if question.correct_answer == answer:
            continue
        if not bonus_question_closed(question=question, now=now):
            bonus_question_update(question_id=question.pk, changes={"closes_at": now}, actor=actor, now=now)
        bonus_question_settle(question_id=question.pk, answer=answer, actor=actor, now=now)
        settled += 1
    return settled
