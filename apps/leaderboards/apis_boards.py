"""Leaderboards, member stats, score actions and the staff settle button (API.md)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import NotFound
from apps.leaderboards.selectors.actions import score_action_list
from apps.leaderboards.selectors.boards import leaderboard_around, leaderboard_page, member_stats
from apps.leaderboards.selectors.leagues import league_get_for_member
from apps.leaderboards.serializers_boards import (
    LeaderboardAroundInputSerializer,
    LeaderboardAroundOutputSerializer,
    LeaderboardPageInputSerializer,
    LeaderboardPageOutputSerializer,
    MemberStatsOutputSerializer,
    ScoreActionInputSerializer,
    ScoreActionOutputSerializer,
    ScoreActionResultSerializer,
    SettleOutputSerializer,
    TournamentLeaderboardInputSerializer,
)
from apps.leaderboards.services.actions import score_action_submit
from apps.leaderboards.services.settlement import match_settle_now
from apps.matches.models import Round
from apps.matches.selectors import tournament_get

SOURCE_HEADER = "X-Leaderboard-Source"


def _page_response(request, page: dict, *, limit: int, offset: int) -> Response:
    def link(new_offset: int) -> str:
        query = request.GET.copy()
        query["limit"], query["offset"] = str(limit), str(new_offset)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    total = page["total"]
    body = {
        "count": total,
        "total": total,
        "version": page["version"],
        "as_of": page["as_of"],
        "next": link(offset + limit) if offset + limit < total else None,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
        "results": page["rows"],
    }
    return Response(body, headers={SOURCE_HEADER: page["source"]})


def _around_response(page: dict) -> Response:
    body = {
        "total": page["total"],
        "version": page["version"],
        "as_of": page["as_of"],
        "me": page["me"],
        "results": page["rows"],
    }
    return Response(body, headers={SOURCE_HEADER: page["source"]})


def _league_board(request, league_id: int) -> str:
    league_get_for_member(league_id=league_id, member_id=request.user.pk)
    return f"league:{league_id}"


class TournamentLeaderboardApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="tournaments_leaderboard",
        parameters=[TournamentLeaderboardInputSerializer],
        responses={200: LeaderboardPageOutputSerializer},
    )
    def get(self, request, tournament_id: int):
        serializer = TournamentLeaderboardInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        params = serializer.validated_data
        tournament_get(tournament_id=tournament_id)
        board = f"tournament:{tournament_id}"
        if "round" in params:
            if not Round.objects.filter(pk=params["round"], tournament_id=tournament_id).exists():
                raise NotFound("round_not_found", "This tournament has no round with this id.")
            board = f"{board}:round:{params['round']}"
        page = leaderboard_page(board=board, limit=params["limit"], offset=params["offset"])
        return _page_response(request, page, limit=params["limit"], offset=params["offset"])


class TournamentLeaderboardMeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="tournaments_leaderboard_me",
        parameters=[LeaderboardAroundInputSerializer],
        responses={200: LeaderboardAroundOutputSerializer, 404: OpenApiResponse(description="not_participating")},
    )
    def get(self, request, tournament_id: int):
        serializer = LeaderboardAroundInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        tournament_get(tournament_id=tournament_id)
        page = leaderboard_around(
            board=f"tournament:{tournament_id}", member_id=request.user.pk, **serializer.validated_data
        )
        return _around_response(page)


class LeagueLeaderboardApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="leagues_leaderboard",
        parameters=[LeaderboardPageInputSerializer],
        responses={200: LeaderboardPageOutputSerializer},
    )
    def get(self, request, league_id: int):
        serializer = LeaderboardPageInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        params = serializer.validated_data
        page = leaderboard_page(board=_league_board(request, league_id), limit=params["limit"], offset=params["offset"])
        return _page_response(request, page, limit=params["limit"], offset=params["offset"])


class LeagueLeaderboardMeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="leagues_leaderboard_me",
        parameters=[LeaderboardAroundInputSerializer],
        responses={200: LeaderboardAroundOutputSerializer},
    )
    def get(self, request, league_id: int):
        serializer = LeaderboardAroundInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        page = leaderboard_around(
            board=_league_board(request, league_id), member_id=request.user.pk, **serializer.validated_data
        )
        return _around_response(page)


class MemberStatsApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="tournaments_member_stats", responses={200: MemberStatsOutputSerializer})
    def get(self, request, tournament_id: int, member_id: int):
        tournament_get(tournament_id=tournament_id)
        stats = member_stats(tournament_id=tournament_id, member_id=member_id)
        source = stats.pop("source")
        return Response(MemberStatsOutputSerializer(stats).data, headers={SOURCE_HEADER: source})


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
        settlement = match_settle_now(match_id=match_id)
        return Response({"job_id": settlement.pk}, status=status.HTTP_202_ACCEPTED)
