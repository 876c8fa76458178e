"""Leaderboards and member stats (API.md "Leaderboards").

Public boards (a tournament's, a round's) are served from a cache per board
version with an ETag (`pages`); a member's own reads and league boards are
`Cache-Control: private`. Public reads read no token and run no DRF throttle:
a cached page costs less than a throttle's own two Redis round trips, and
the edge limits and micro-caches them (README "Reads under load").
"""

import re

from django.conf import settings
from django.http import HttpResponse, QueryDict
from drf_spectacular.drainage import set_override
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from apps.common.errors import ApplicationError
from apps.common.throttles import OneTripUserRateThrottle
from apps.common.serializers import query_validated
from apps.leaderboards.boards import pages
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.boards.selectors import (
    SOURCE_REDIS,
    board_resolve,
    leaderboard_around,
    leaderboard_page,
    member_stats,
)
from apps.leaderboards.boards.serializers import (
    LeaderboardAroundInputSerializer,
    LeaderboardAroundOutputSerializer,
    LeaderboardPageInputSerializer,
    LeaderboardPageOutputSerializer,
    LeaderboardPreviewOutputSerializer,
    LeaderboardSearchInputSerializer,
    LeaderboardSearchOutputSerializer,
    MemberHistoryEntrySerializer,
    MemberStatsOutputSerializer,
    SnapshotJobOutputSerializer,
    TournamentLeaderboardInputSerializer,
)
from apps.leaderboards.boards.snapshots.operations import snapshot_request
from apps.leaderboards.boards.snapshots.selectors import member_history
from apps.leaderboards.boards.read_cache import read_cache_fill
from apps.leaderboards.boards.services import board_projection_repair
from apps.leaderboards.boards.social import (
    MEMBERS_MAX,
    leaderboard_members,
    leaderboard_preview,
    leaderboard_search,
    search_prefix,
)
from apps.leagues.selectors import league_get_for_member

# The stateless JWT scheme is the same bearer JWT in the schema as the default one;
# drf-spectacular names both "jwtAuth" and would warn of a collision.
set_override(JWTStatelessUserAuthentication, "suppress_collision_warning", True)

SOURCE_HEADER = "X-Leaderboard-Source"
_PLAIN_ID = re.compile(r"[0-9]{1,18}")
PRIVATE = "private, no-cache"


def _public_cache_control() -> str:
    return f"public, max-age={settings.LEADERBOARD_CACHE_SECONDS}"


def _read(board: BoardKey, read) -> dict:
    """`read(board)` as served: a Redis set found missing is repaired, and read again when it is back at once.

    The selectors only read; this view is where the repair is started.
    """
    page = read(board)
    read_cache_fill(page.pop("cache_fill"))
    if page.pop("projection_missing") and board_projection_repair(board=board_resolve(board=board)):
        page = read(board)
        page.pop("projection_missing")
        read_cache_fill(page.pop("cache_fill"))
    return page


def _page_body(request, page: dict, *, limit: int, offset: int, extra: dict | None = None) -> dict:
    """The page as served. Its links carry only the parameters the board reads (`extra`, limit, offset),
    so the body depends on the page alone, never on other query parameters: one cached body per page."""

    def link(new_offset: int) -> str:
        query = QueryDict(mutable=True)
        query.update(extra or {})
        query["limit"], query["offset"] = str(limit), str(new_offset)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    total = page["total"]
    return {
        "count": total,
        **_board_fields(page),
        "next": link(offset + limit) if offset + limit < total else None,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
        "results": page["rows"],
    }


def _page_response(request, page: dict, *, limit: int, offset: int) -> Response:
    page.pop("generation", None)
    body = _page_body(request, page, limit=limit, offset=offset)
    return Response(body, headers={SOURCE_HEADER: page["source"], "Cache-Control": PRIVATE})


def _public_page(body: bytes, *, etag: str, source: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/json")
    response[SOURCE_HEADER] = source
    response["ETag"] = etag
    response["Cache-Control"] = _public_cache_control()
    return response


def _not_modified(etag: str) -> HttpResponse:
    response = HttpResponse(status=304)
    response["ETag"] = etag
    response["Cache-Control"] = _public_cache_control()
    return response


def _around_response(page: dict) -> Response:
    body = {**_board_fields(page), "me": page["me"], "results": page["rows"]}
    return Response(body, headers={SOURCE_HEADER: page["source"], "Cache-Control": PRIVATE})


def _board_fields(page: dict) -> dict:
    """What every board answer carries besides its rows."""
    return {
        "total": page["total"],
        "version": page["version"],
        "as_of": page["as_of"],
        "live": page["live"],
        "live_matches": page["live_matches"],
    }


def _members_param(raw: str) -> list[int]:
    """The ids of `?members=1,2,3`: 1..MEMBERS_MAX positive integers, duplicates dropped."""
    parts = raw.split(",")
    if len(parts) > MEMBERS_MAX:
        raise ApplicationError(
            "too_many_members", f"Ask for at most {MEMBERS_MAX} members at once; {len(parts)} were given."
        )
    if not all(_PLAIN_ID.fullmatch(part) and int(part) > 0 for part in parts):
        raise ValidationError({"members": ["A comma-separated list of member ids (positive integers), 1 to 100."]})
    return list(dict.fromkeys(int(part) for part in parts))


def _public_answer(request, board: BoardKey, key_of, build) -> HttpResponse:
    """A public answer that is not a page: 304 on a matching ETag without a read, else `build()`'s body.

    Its ETag is derived from the board's stamp and the answer's own parameters
    (`key_of(stamp)`), like a page's, so it changes exactly when the body
    would. The body is not kept in the page cache: the parameters (a list of
    ids, a typed prefix) rarely repeat, and every one kept would push a hot
    page out; the edge and the client may still keep it by its URL.
    """
    if_none_match = request.headers.get("If-None-Match")
    stamp = pages.board_stamp(tournament_id=board.tournament)
    if stamp is not None:
        etag = pages.etag_of_key(key_of(stamp))
        if pages.etag_matches(if_none_match, etag):
            return _not_modified(etag)
    page, body = build()
    if page["source"] == SOURCE_REDIS:
        etag = pages.etag_of_key(key_of(pages.stamp_of(version=page["version"], generation=page["generation"])))
    else:
        etag = pages.etag_of_body(body)
    if pages.etag_matches(if_none_match, etag):
        return _not_modified(etag)
    return _public_page(body, etag=etag, source=page["source"])


def _league_board(request, league_id: int) -> BoardKey:
    league = league_get_for_member(league_id=league_id, member_id=request.user.pk)
    return BoardKey.of_league(league.pk, league.tournament_id)


class TournamentLeaderboardApi(APIView):
    permission_classes = [AllowAny]
    # The page is the same for everyone: no token is read, no member looked up.
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        operation_id="tournaments_leaderboard",
        parameters=[
            TournamentLeaderboardInputSerializer,
            OpenApiParameter(
                "members",
                OpenApiTypes.STR,
                description=(
                    "Comma-separated member ids (1 to 100): only their rows, by rank; ids not on the board are "
                    "left out. limit and offset are then ignored."
                ),
            ),
        ],
        responses={
            200: LeaderboardPageOutputSerializer,
            304: OpenApiResponse(description="If-None-Match matched"),
            400: OpenApiResponse(description="Bad limit, offset, round or members; too_many_members past 100 ids."),
        },
    )
    def get(self, request, tournament_id: int):
        params = query_validated(TournamentLeaderboardInputSerializer, request)
        limit, offset = params["limit"], params["offset"]
        members = request.query_params.get("members")
        member_ids = _members_param(members) if members is not None else None
        pages.tournament_known(tournament_id=tournament_id)
        board, extra = BoardKey.of_tournament(tournament_id), {}
        if "round" in params:
            pages.round_known(tournament_id=tournament_id, round_id=params["round"])
            board, extra = BoardKey.of_round(tournament_id, params["round"]), {"round": str(params["round"])}
        if member_ids is not None:
            return self.members(request, board, member_ids)
        site = f"{request.scheme}://{request.get_host()}"
        if_none_match = request.headers.get("If-None-Match")

        stamp = pages.board_stamp(tournament_id=tournament_id)
        if stamp is not None:
            key = pages.page_key(board=board, stamp=stamp, limit=limit, offset=offset, site=site)
            etag = pages.etag_of_key(key)
            if pages.etag_matches(if_none_match, etag):
                return _not_modified(etag)
            body = pages.page_cached(key)
            if body is not None:
                return _public_page(body, etag=etag, source=SOURCE_REDIS)

        # Built the way an uncached read always was; cached under the version it was read at.
        page = _read(board, lambda b: leaderboard_page(board=b, limit=limit, offset=offset))
        generation = page.pop("generation")
        body = JSONRenderer().render(_page_body(request, page, limit=limit, offset=offset, extra=extra))
        if page["source"] == SOURCE_REDIS:
            stamp = pages.stamp_of(version=page["version"], generation=generation)
            key = pages.page_key(board=board, stamp=stamp, limit=limit, offset=offset, site=site)
            pages.page_store(key, body)
            etag = pages.etag_of_key(key)
        else:
            etag = pages.etag_of_body(body)
        if pages.etag_matches(if_none_match, etag):
            return _not_modified(etag)
        return _public_page(body, etag=etag, source=page["source"])


    @staticmethod
    def members(request, board: BoardKey, member_ids: list[int]) -> HttpResponse:
        """`?members=`: public like the board it reads (the rows are on the public page too, and no token is
        read), so `Cache-Control: public` and an ETag keyed by the ids; not kept in the page cache."""
        ids = ",".join(map(str, sorted(member_ids)))

        def build():
            page = _read(board, lambda b: leaderboard_members(board=b, member_ids=member_ids))
            body = {
                "count": page["total"],
                **_board_fields(page),
                "next": None,
                "previous": None,
                "results": page["rows"],
            }
            return page, JSONRenderer().render(body)

        return _public_answer(request, board, lambda stamp: f"lbmembers:{board.name}:{stamp}:{ids}", build)


class TournamentLeaderboardSearchApi(APIView):
    """Public like the board: no token is read. Unlike a page, each new prefix costs two index scans in the
    database, so the default throttles (the anonymous rate, per address) stay on."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        operation_id="tournaments_leaderboard_search",
        parameters=[LeaderboardSearchInputSerializer],
        responses={
            200: LeaderboardSearchOutputSerializer,
            304: OpenApiResponse(description="If-None-Match matched"),
            400: OpenApiResponse(description="q shorter than 2 or longer than 64 characters."),
        },
    )
    def get(self, request, tournament_id: int):
        q = query_validated(LeaderboardSearchInputSerializer, request)["q"]
        pages.tournament_known(tournament_id=tournament_id)
        board = BoardKey.of_tournament(tournament_id)
        prefix = search_prefix(q)

        def build():
            page = _read(board, lambda b: leaderboard_search(board=b, q=q))
            return page, JSONRenderer().render({**_board_fields(page), "results": page["rows"]})

        return _public_answer(request, board, lambda stamp: f"lbsearch:{board.name}:{stamp}:{prefix}", build)


class TournamentLeaderboardPreviewApi(APIView):
    permission_classes = [IsAuthenticated]
    # The member's id comes from the signed token alone, as for leaderboard/me.
    authentication_classes = [JWTStatelessUserAuthentication]
    throttle_classes = [OneTripUserRateThrottle]

    @extend_schema(operation_id="tournaments_leaderboard_preview", responses={200: LeaderboardPreviewOutputSerializer})
    def get(self, request, tournament_id: int):
        pages.tournament_known(tournament_id=tournament_id)
        member_id = int(request.user.pk)  # a token's claim (simplejwt keeps it as a string)
        page = _read(BoardKey.of_tournament(tournament_id), lambda b: leaderboard_preview(board=b, member_id=member_id))
        return _preview_response(page)


def _preview_response(page: dict) -> Response:
    body = {**_board_fields(page), "results": page["rows"]}
    return Response(body, headers={SOURCE_HEADER: page["source"], "Cache-Control": PRIVATE})


class TournamentLeaderboardMeApi(APIView):
    permission_classes = [IsAuthenticated]
    # The member's id comes from the signed token alone: no member row is read per request.
    authentication_classes = [JWTStatelessUserAuthentication]
    throttle_classes = [OneTripUserRateThrottle]

    @extend_schema(
        operation_id="tournaments_leaderboard_me",
        parameters=[LeaderboardAroundInputSerializer],
        responses={200: LeaderboardAroundOutputSerializer, 404: OpenApiResponse(description="not_participating")},
    )
    def get(self, request, tournament_id: int):
        params = query_validated(LeaderboardAroundInputSerializer, request)
        pages.tournament_known(tournament_id=tournament_id)
        board = BoardKey.of_tournament(tournament_id)
        member_id = int(request.user.pk)  # a token's claim (simplejwt keeps it as a string)
        page = _read(board, lambda b: leaderboard_around(board=b, member_id=member_id, **params))
        return _around_response(page)


class _LeagueBoardApi(APIView):
    """A league board: members only, private to the caller."""

    permission_classes = [IsAuthenticated]

    def league_read(self, request, league_id: int, query_serializer, read) -> tuple[dict, dict]:
        """(the query's parameters, `read(board, params)` as served) once the caller is known to be a member."""
        params = query_validated(query_serializer, request)
        board = _league_board(request, league_id)
        return params, _read(board, lambda b: read(b, params))


class LeagueLeaderboardApi(_LeagueBoardApi):
    @extend_schema(
        operation_id="leagues_leaderboard",
        parameters=[LeaderboardPageInputSerializer],
        responses={200: LeaderboardPageOutputSerializer, 403: OpenApiResponse(description="not_league_member")},
    )
    def get(self, request, league_id: int):
        params, page = self.league_read(
            request,
            league_id,
            LeaderboardPageInputSerializer,
            lambda board, p: leaderboard_page(board=board, limit=p["limit"], offset=p["offset"]),
        )
        return _page_response(request, page, limit=params["limit"], offset=params["offset"])


class LeagueLeaderboardMeApi(_LeagueBoardApi):
    @extend_schema(
        operation_id="leagues_leaderboard_me",
        parameters=[LeaderboardAroundInputSerializer],
        responses={
            200: LeaderboardAroundOutputSerializer,
            403: OpenApiResponse(description="not_league_member"),
            404: OpenApiResponse(description="not_participating"),
        },
    )
    def get(self, request, league_id: int):
        _, page = self.league_read(
            request,
            league_id,
            LeaderboardAroundInputSerializer,
            lambda board, p: leaderboard_around(board=board, member_id=request.user.pk, **p),
        )
        return _around_response(page)


class LeagueLeaderboardSearchApi(_LeagueBoardApi):
    @extend_schema(
        operation_id="leagues_leaderboard_search",
        parameters=[LeaderboardSearchInputSerializer],
        responses={
            200: LeaderboardSearchOutputSerializer,
            400: OpenApiResponse(description="q shorter than 2 or longer than 64 characters."),
            403: OpenApiResponse(description="not_league_member"),
        },
    )
    def get(self, request, league_id: int):
        _, page = self.league_read(
            request, league_id, LeaderboardSearchInputSerializer, lambda board, p: leaderboard_search(board=board, **p)
        )
        body = {**_board_fields(page), "results": page["rows"]}
        return Response(body, headers={SOURCE_HEADER: page["source"], "Cache-Control": PRIVATE})


class LeagueLeaderboardPreviewApi(_LeagueBoardApi):
    @extend_schema(
        operation_id="leagues_leaderboard_preview",
        responses={200: LeaderboardPreviewOutputSerializer, 403: OpenApiResponse(description="not_league_member")},
    )
    def get(self, request, league_id: int):
        board = _league_board(request, league_id)
        page = _read(board, lambda b: leaderboard_preview(board=b, member_id=request.user.pk))
        return _preview_response(page)


class MemberStatsApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(operation_id="tournaments_member_stats", responses={200: MemberStatsOutputSerializer})
    def get(self, request, tournament_id: int, member_id: int):
        pages.tournament_known(tournament_id=tournament_id)
        stats = member_stats(tournament_id=tournament_id, member_id=member_id)
        read_cache_fill(stats.pop("cache_fill"))
        source = stats.pop("source")
        return Response(
            MemberStatsOutputSerializer(stats).data,
            headers={SOURCE_HEADER: source, "Cache-Control": _public_cache_control()},
        )


class MemberHistoryApi(APIView):
    """A member's rank at each rank snapshot: public, like the member's stats and the tournament boards."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        operation_id="tournaments_member_history",
        responses={
            200: MemberHistoryEntrySerializer(many=True),
            404: OpenApiResponse(description="tournament_not_found, or not_participating: the member does not take part."),
        },
    )
    def get(self, request, tournament_id: int, member_id: int):
        pages.tournament_known(tournament_id=tournament_id)
        history = member_history(tournament_id=tournament_id, member_id=member_id)
        return Response(
            MemberHistoryEntrySerializer(history, many=True).data,
            headers={"Cache-Control": _public_cache_control()},
        )


class TournamentSnapshotApi(APIView):
    """Staff: record a rank snapshot of the tournament now (a job; audited)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="admin_tournaments_snapshot",
        request=None,
        responses={
            202: SnapshotJobOutputSerializer,
            404: OpenApiResponse(description="tournament_not_found"),
        },
    )
    def post(self, request, tournament_id: int):
        job_id = snapshot_request(tournament_id=tournament_id, actor=request.user)
        return Response({"job_id": job_id}, status=status.HTTP_202_ACCEPTED)
