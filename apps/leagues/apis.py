from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.pagination import LimitOffsetPagination, paginated_response
from apps.common.serializers import query_validated
from apps.leagues.selectors import league_get_for_member, league_list_for_member
from apps.leagues.serializers import (
    LeagueCreateInputSerializer,
    LeagueFilterSerializer,
    LeagueJoinInputSerializer,
    LeagueOutputSerializer,
)
from apps.leagues.services import (
    league_create,
    league_invite_code_rotate,
    league_join,
    league_member_remove,
)


class LeagueCreateApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="tournaments_leagues_create",
        request=LeagueCreateInputSerializer,
        responses={201: LeagueOutputSerializer},
    )
    def post(self, request, tournament_id: int):
        serializer = LeagueCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        league = league_create(tournament_id=tournament_id, owner_id=request.user.pk, **serializer.validated_data)
        return Response(LeagueOutputSerializer(league).data, status=status.HTTP_201_CREATED)


class LeagueJoinApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="leagues_join",
        request=LeagueJoinInputSerializer,
        responses={200: LeagueOutputSerializer, 404: OpenApiResponse(description="invalid_invite_code")},
    )
    def post(self, request):
        serializer = LeagueJoinInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        league = league_join(member_id=request.user.pk, **serializer.validated_data)
        return Response(LeagueOutputSerializer(league).data)


class MyLeagueListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = LimitOffsetPagination

    @extend_schema(
        operation_id="me_leagues_list", parameters=[LeagueFilterSerializer], responses=LeagueOutputSerializer(many=True)
    )
    def get(self, request):
        filters = query_validated(LeagueFilterSerializer, request)
        leagues = league_list_for_member(member_id=request.user.pk, tournament_id=filters.get("tournament"))
        return paginated_response(queryset=leagues, serializer_class=LeagueOutputSerializer, request=request, view=self)


class LeagueDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="leagues_read",
        responses={200: LeagueOutputSerializer, 403: OpenApiResponse(description="not_league_member")},
    )
    def get(self, request, league_id: int):
        league = league_get_for_member(league_id=league_id, member_id=request.user.pk)
        return Response(LeagueOutputSerializer(league).data)


class LeagueInviteCodeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="leagues_invite_code_rotate",
        request=None,
        responses={200: LeagueOutputSerializer, 403: OpenApiResponse(description="not_league_owner")},
    )
    def post(self, request, league_id: int):
        league = league_invite_code_rotate(league_id=league_id, member_id=request.user.pk)
        return Response(LeagueOutputSerializer(league).data)


class LeagueMemberRemoveApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="leagues_members_remove",
        responses={
            204: OpenApiResponse(
                description="Removed. When the owner leaves, the earliest remaining member owns the league; "
                "when the last member leaves, the league is deleted."
            ),
            403: OpenApiResponse(description="not_league_member: only the owner removes others."),
        },
    )
    def delete(self, request, league_id: int, member_id: int):
        league_member_remove(league_id=league_id, actor_id=request.user.pk, member_id=member_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
