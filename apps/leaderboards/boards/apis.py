"""Leaderboards and member stats (API.md "Leaderboards")."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import NotFound
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.boards.selectors import board_resolve, leaderboard_around, leaderboard_page, member_stats
from apps.leaderboards.boards.serializers import (
    LeaderboardAroundInputSerializer,
    LeaderboardAroundOutputSerializer,
    LeaderboardPageInputSerializer,
    LeaderboardPageOutputSerializer,
    MemberStatsOutputSerializer,
    TournamentLeaderboardInputSerializer,
)
from apps.leaderboards.boards.services import board_projection_repair
from apps.leagues.selectors import league_get_for_member
from apps.matches.models import Round
from apps.matches.selectors import tournament_get

SOURCE_HEADER = "X-Leaderboard-Source"


def _read(board: BoardKey, read) -> dict:
    """`read(board)` as served: a Redis set found missing is repaired, and read again when it is back at once.

    The selectors only read; this view is where the repair is started.
    """
    page = read(board)
    if page.pop("projection_missing") and board_projection_repair(board=board_resolve(board=board)):
        page = read(board)
        page.pop("projection_missing")
    return page


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


def _league_board(request, league_id: int) -> BoardKey:
    league = league_get_for_member(league_id=league_id, member_id=request.user.pk)
    return BoardKey.of_league(league.pk, league.tournament_id)


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
        board = BoardKey.of_tournament(tournament_id)
        if "round" in params:
            if not Round.objects.filter(pk=params["round"], tournament_id=tournament_id).exists():
                raise NotFound("round_not_found", "This tournament has no round with this id.")
            board = BoardKey.of_round(tournament_id, params["round"])
        page = _read(board, lambda b: leaderboard_page(board=b, limit=params["limit"], offset=params["offset"]))
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
        board = BoardKey.of_tournament(tournament_id)
        page = _read(board, lambda b: leaderboard_around(board=b, member_id=request.user.pk, **serializer.validated_data))
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
        board = _league_board(request, league_id)
        page = _read(board, lambda b: leaderboard_page(board=b, limit=params["limit"], offset=params["offset"]))
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
        board = _league_board(request, league_id)
        page = _read(board, lambda b: leaderboard_around(board=b, member_id=request.user.pk, **serializer.validated_data))
        return _around_response(page)


class MemberStatsApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="tournaments_member_stats", responses={200: MemberStatsOutputSerializer})
    def get(self, request, tournament_id: int, member_id: int):
        tournament_get(tournament_id=tournament_id)
        stats = member_stats(tournament_id=tournament_id, member_id=member_id)
        source = stats.pop("source")
        return Response(MemberStatsOutputSerializer(stats).data, headers={SOURCE_HEADER: source})
