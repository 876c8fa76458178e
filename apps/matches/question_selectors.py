"""Reads about bonus questions and their answers (SCORING.md "Bonus questions")."""

from datetime import datetime

from django.db.models import Count, Prefetch, QuerySet

from apps.common.errors import Forbidden, NotFound
from apps.matches.models import BonusAnswer, BonusQuestion, Team, Tournament


def bonus_question_closed(*, question: BonusQuestion, now: datetime) -> bool:
    """Answers are taken before `closes_at` on the server clock; from then on they are frozen and may be shown."""
    return now >= question.closes_at


def bonus_question_get(*, question_id: int) -> BonusQuestion:
    question = BonusQuestion.objects.select_related("tournament").filter(pk=question_id).first()
    if question is None:
        raise NotFound("question_not_found", "No bonus question has this id.")
    return question


def bonus_question_list(*, tournament_id: int) -> QuerySet[BonusQuestion]:
    """The tournament's questions by closing time, each with the tournament's teams (the options of `team` ones)."""
    if not Tournament.objects.filter(pk=tournament_id).exists():
        raise NotFound("tournament_not_found", "No tournament has this id.")
    return (
        BonusQuestion.objects.filter(tournament_id=tournament_id)
        .select_related("tournament")
        .prefetch_related(Prefetch("tournament__teams", queryset=Team.objects.order_by("name", "id")))
        .order_by("closes_at", "id")
    )


def bonus_answers_of_member(*, member_id: int | None, question_ids: list[int]) -> dict[int, BonusAnswer]:
    """question id -> the member's own answer (nobody else's); empty for an anonymous caller."""
    if member_id is None or not question_ids:
        return {}
    return {
        answer.question_id: answer
        for answer in BonusAnswer.objects.filter(member_id=member_id, question_id__in=question_ids)
    }


def bonus_answer_points(*, question: BonusQuestion, answer: BonusAnswer) -> int | None:
    """What the answer earned: None until settlement has applied the question's current correct answer."""
    if not question.is_settled or question.settled_version != question.answer_version:
        return None
    return question.points if answer.answer == question.correct_answer else 0


def bonus_answer_summary(*, question_id: int, now: datetime) -> dict:
    """How many members gave each answer, most given first; Forbidden("question_not_closed") before it closes."""
    question = bonus_question_get(question_id=question_id)
    if not bonus_question_closed(question=question, now=now):
        raise Forbidden("question_not_closed", "Answers are hidden until the question closes.")
    column = "team_id" if question.kind == BonusQuestion.Kind.TEAM else "number"
    counts = (
        BonusAnswer.objects.filter(question_id=question_id)
        .order_by()
        .values(column)
        .annotate(count=Count("*"))
        .order_by("-count", column)
    )
    answers = [{"answer": row[column], "count": row["count"]} for row in counts]
    return {"total": sum(row["count"] for row in answers), "answers": answers}
