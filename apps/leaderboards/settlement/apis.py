"""Score actions and the staff settle buttons of matches and bonus questions (API.md)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.leaderboards.settlement.action_selectors import score_action_list
from apps.leaderboards.settlement.actions import score_action_submit
from apps.leaderboards.settlement.operations import match_settle_now, question_settle_now
from apps.leaderboards.settlement.serializers import (
    QuestionSettleInputSerializer,
    ScoreActionInputSerializer,
    ScoreActionOutputSerializer,
    ScoreActionResultSerializer,
    SettleOutputSerializer,
)


class ScoreActionListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="tournaments_actions_list", responses={200: ScoreActionOutputSerializer(many=True)})
    def get(self, request, tournament_id: int):
        actions = score_action_list(tournament_id=tournament_id)
        return Response(ScoreActionOutputSerializer(actions, many=True).data)


class ScoreActionSubmitApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="tournaments_actions_submit",
        request=ScoreActionInputSerializer,
        responses={
            202: ScoreActionResultSerializer,
            200: ScoreActionResultSerializer,
            409: OpenApiResponse(description="tournament_over: the tournament has finished"),
            429: OpenApiResponse(description="action_limit, with Retry-After"),
        },
        parameters=[OpenApiParameter("code", str, OpenApiParameter.PATH)],
    )
    def post(self, request, tournament_id: int, code: str):
        serializer = ScoreActionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _, created = score_action_submit(
            tournament_id=tournament_id,
            code=code,
            member_id=request.user.pk,
            idempotency_key=serializer.validated_data["idempotency_key"],
        )
        return Response(
            {"status": "accepted"}, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        )


class MatchSettleApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="admin_matches_settle",
        request=None,
        responses={202: SettleOutputSerializer, 409: OpenApiResponse(description="match_not_finished")},
    )
    def post(self, request, match_id: int):
        settlement = match_settle_now(match_id=match_id, actor=request.user)
        return Response({"job_id": settlement.pk}, status=status.HTTP_202_ACCEPTED)


class QuestionSettleApi(APIView):
    permission_classes = [IsAdminUser]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="admin_questions_settle",
        request=QuestionSettleInputSerializer,
        description="Settle a closed bonus question with `answer`, re-settle it with another, or un-settle it "
        "(`answer`: null). Standings move by the difference, in batches, after the answer.",
        responses={
            202: SettleOutputSerializer,
            400: OpenApiResponse(description="invalid_answer: the wrong kind or a team outside the tournament."),
            409: OpenApiResponse(description="question_not_closed: a question is settled once it has closed."),
        },
    )
    def post(self, request, question_id: int):
        serializer = QuestionSettleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        settlement = question_settle_now(
            question_id=question_id, answer=serializer.validated_data["answer"], actor=request.user
        )
        return Response({"job_id": settlement.pk}, status=status.HTTP_202_ACCEPTED)
