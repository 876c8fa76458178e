"""Bonus questions (API.md "Bonus questions"): the list, a member's answer, the summary once closed."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.matches.question_selectors import (
    bonus_answer_points,
    bonus_answer_summary,
    bonus_answers_of_member,
    bonus_question_list,
)
from apps.matches.question_serializers import (
    AnswerInputSerializer,
    AnswerOutputSerializer,
    QuestionOutputSerializer,
    SummaryOutputSerializer,
)
from apps.matches.question_services import bonus_answer_submit


class TournamentQuestionListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="tournaments_questions_list",
        description="Public. With a token, `my_answer` is the caller's own answer (never anyone else's).",
        responses={200: QuestionOutputSerializer(many=True), 401: OpenApiResponse(description="A bad or expired token.")},
    )
    def get(self, request, tournament_id: int):
        questions = list(bonus_question_list(tournament_id=tournament_id))
        member_id = request.user.pk if request.user.is_authenticated else None
        answers = bonus_answers_of_member(member_id=member_id, question_ids=[q.pk for q in questions])
        context = {"now": timezone.now(), "answers": answers}
        response = Response(QuestionOutputSerializer(questions, many=True, context=context).data)
        # The body differs per caller.
        response["Cache-Control"] = "private"
        return response


class QuestionAnswerApi(APIView):
    permission_classes = [IsAuthenticated]
    # The answer must be a JSON integer; a form would send it as a string.
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="questions_answer_put",
        request=AnswerInputSerializer,
        responses={
            200: AnswerOutputSerializer,
            201: AnswerOutputSerializer,
            400: OpenApiResponse(description="invalid_answer: the wrong kind, a team outside the tournament, "
                                 "a number outside 0..999; or a field map."),  # fmt: skip
            409: OpenApiResponse(description="question_closed: closes_at has passed."),
        },
    )
    def put(self, request, question_id: int):
        serializer = AnswerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer, created = bonus_answer_submit(
            member_id=request.user.pk, question_id=question_id, answer=serializer.validated_data["answer"]
        )
        points = bonus_answer_points(question=answer.question, answer=answer)
        return Response(
            AnswerOutputSerializer(answer, context={"points": points}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class QuestionAnswerSummaryApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="questions_answers_summary",
        responses={
            200: SummaryOutputSerializer,
            403: OpenApiResponse(description="question_not_closed: answers are hidden until closes_at."),
        },
    )
    def get(self, request, question_id: int):
        return Response(SummaryOutputSerializer(bonus_answer_summary(question_id=question_id, now=timezone.now())).data)
