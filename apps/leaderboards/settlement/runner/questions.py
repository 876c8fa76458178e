"""A bonus question's settlement request through the shared loop.

A claim fixes the question's correct answer and points as they stand (both
None once un-settled) and the request it moves from (the last done one of
the question), so a re-settle moves every standing by (new - old).
"""

from collections.abc import Callable

from apps.leaderboards.models import QuestionSettlementRequest
from apps.leaderboards.settlement import metrics
from apps.leaderboards.settlement.question_sql import AnswerPlan, AppliedAnswer
from apps.leaderboards.settlement.runner.loop import Job, RunReport, request_run
from apps.matches.models import BonusQuestion
from apps.matches.question_services import bonus_question_settled_mark

def question_applied_request(*, question_id: int) -> QuestionSettlementRequest | None:
    """The request whose points the question's answers currently hold in the standings."""
    return (
        QuestionSettlementRequest.objects.filter(question_id=question_id, status=QuestionSettlementRequest.Status.DONE)
        .order_by("-finished_at", "-id")
        .first()
    )


def _fix(request: QuestionSettlementRequest) -> dict:
    question = BonusQuestion.objects.get(pk=request.question_id)
    settled = question.is_settled
    return {
        "base": question_applied_request(question_id=request.question_id),
        "applied_team_id": question.correct_team_id if settled else None,
        "applied_number": question.correct_number if settled else None,
        "applied_points": question.points if settled else None,
    }


def _plan(request: QuestionSettlementRequest, tournament_id: int) -> AnswerPlan:
    return AnswerPlan(
        question_id=request.question_id,
        tournament_id=tournament_id,
        old=AppliedAnswer.of_request(request.base),
        new=AppliedAnswer.of_request(request),
    )


def _done(request: QuestionSettlementRequest) -> None:
    bonus_question_settled_mark(question_id=request.question_id, answer_version=request.answer_version)


QUESTION_JOB = Job(
    model=QuestionSettlementRequest,
    subject="question_id",
    walked_field="answers_walked",
    walked_metric=metrics.question_answers,
    tournament_of=lambda request: BonusQuestion.objects.values_list("tournament_id", flat=True).get(
        pk=request.question_id
    ),
    fix=_fix,
    plan=_plan,
    done=_done,
    metric_kind=lambda request: "question",
)


def question_settlement_run(
    *, request_id: int, worker: str | None = None, should_stop: Callable[[], bool] | None = None
) -> RunReport:
    """Run one settlement request of a bonus question to the end (see `loop.request_run`)."""
    return request_run(job=QUESTION_JOB, request_id=request_id, worker=worker, should_stop=should_stop)
