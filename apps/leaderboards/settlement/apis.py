"""Score actions and the staff settle button (API.md)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.leaderboards.settlement.action_selectors import score_action_list
from apps.leaderboards.settlement.actions import score_action_submit
from apps.leaderboards.settlement.operations import match_settle_now
from apps.leaderboards.settlement.serializers import (
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
