from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.pagination import LimitOffsetPagination, paginated_response
from apps.common.serializers import query_validated
from apps.matches.selectors import match_get, match_list, tournament_get, tournament_list
from apps.matches.serializers import (
    MatchFilterSerializer,
    MatchOutputSerializer,
    ParticipationOutputSerializer,
    TournamentDetailOutputSerializer,
    TournamentOutputSerializer,
)
from apps.matches.services import tournament_join


class TournamentListApi(APIView):
    permission_classes = [AllowAny]
    pagination_class = LimitOffsetPagination

    @extend_schema(operation_id="tournaments_list", responses=TournamentOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(
            queryset=tournament_list(), serializer_class=TournamentOutputSerializer, request=request, view=self
        )


class TournamentDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="tournaments_read", responses=TournamentDetailOutputSerializer)
    def get(self, request, tournament_id: int):
        tournament = tournament_get(tournament_id=tournament_id, with_rounds=True)
        return Response(TournamentDetailOutputSerializer(tournament).data)


class TournamentJoinApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="tournaments_join", request=None, responses=ParticipationOutputSerializer)
    def post(self, request, tournament_id: int):
        participation = tournament_join(tournament_id=tournament_id, member_id=request.user.pk)
        return Response(ParticipationOutputSerializer(participation).data)


class TournamentMatchListApi(APIView):
    permission_classes = [AllowAny]
    pagination_class = LimitOffsetPagination

    @extend_schema(
        operation_id="tournaments_matches_list",
        parameters=[MatchFilterSerializer],
        responses=MatchOutputSerializer(many=True),
    )
    def get(self, request, tournament_id: int):
        data = query_validated(MatchFilterSerializer, request)
        matches = match_list(
            tournament_id=tournament_id,
            round_id=data.get("round"),
            status=data.get("status"),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
        return paginated_response(
            queryset=matches,
            serializer_class=MatchOutputSerializer,
            request=request,
            view=self,
            context={"now": timezone.now()},
        )


class MatchDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="matches_read", responses=MatchOutputSerializer)
    def get(self, request, match_id: int):
        return Response(MatchOutputSerializer(match_get(match_id=match_id)).data)
