"""Who may watch a live board: tournament boards are public, league boards need a member's token;
a member's own stream needs the member's token and follows the boards they are on.

Access is checked when a stream opens and holds only while it stays true: a
league stream ends when its token expires, and when the member leaves the
league or is deactivated (`receivers` tell every realtime process, `hub`
closes the member's streams of the board).
"""

from dataclasses import dataclass

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.common.errors import ApplicationError, Forbidden, NotFound
from apps.leaderboards.boards.keys import LEAGUE, TOURNAMENT, BoardKey
from apps.leaderboards.models import Standing
from apps.leagues.selectors import league_is_member, league_list_for_member, league_tournament_id
from apps.matches.models import Tournament
from apps.members.models import Member


@dataclass(frozen=True)
class Viewer:
    """Who opened a league stream and until when the token that opened it holds (a Unix time)."""

    member_id: int
    expires_at: float | None


def board_access_check(*, board: BoardKey, token: str | None) -> Viewer | None:
    """Refuse a live board the caller may not watch; return the viewer of a league board.

    Raises NotFound for an unknown board, a 401 ApplicationError for a league
    board without a valid access token, Forbidden for a non-member. Tournament
    boards are public (None is returned); a token sent to one is ignored.
    """
    board_id = board.id
    if board.kind == TOURNAMENT:
        if not Tournament.objects.filter(pk=board_id).exists():
            raise NotFound("tournament_not_found", "No tournament has this id.")
        return None
    if board.kind != LEAGUE:
        raise NotFound("not_found", "Only tournament and league boards are live.")
    if league_tournament_id(league_id=board_id) is None:
        raise NotFound("league_not_found", "No league has this id.")
    if not token:
        raise ApplicationError(
            "not_authenticated", "League boards need a member's access token.", status_code=401
        )
    viewer = _viewer_from_token(token)
    if viewer is None:
        raise ApplicationError("token_not_valid", "The access token is invalid or expired.", status_code=401)
    if not league_is_member(league_id=board_id, member_id=viewer.member_id):
        raise Forbidden("not_league_member", "Only members of this league can watch its board.")
    return viewer


def viewer_still_allowed(*, board: BoardKey, member_id: int) -> bool:
    """Whether an active member still belongs to the league of `board` (read again after a stream joined its board)."""
    return (
        Member.objects.filter(pk=member_id, is_active=True).exists()
        and league_is_member(league_id=board.id, member_id=member_id)
    )


def member_stream_access(*, token: str | None) -> tuple[Viewer, list[BoardKey]]:
    """The member a token opens their own stream for, and their boards; a 401 ApplicationError without a valid one.

    The boards are read once, when the stream opens: each tournament the
    member takes part in (every participant has a standing) and each of their
    leagues, with its tournament known.
    """
    if not token:
        raise ApplicationError("not_authenticated", "Your own rank needs your access token.", status_code=401)
    viewer = _viewer_from_token(token)
    if viewer is None:
        raise ApplicationError("token_not_valid", "The access token is invalid or expired.", status_code=401)
    return viewer, member_boards(member_id=viewer.member_id)


def member_boards(*, member_id: int) -> list[BoardKey]:
    """The live boards a member is on: their tournaments, then their leagues, each by id."""
    tournaments = Standing.objects.filter(member_id=member_id).order_by("tournament_id").values_list(
        "tournament_id", flat=True
    )
    leagues = league_list_for_member(member_id=member_id).values_list("pk", "tournament_id")
    return [
        *(BoardKey.of_tournament(tournament_id) for tournament_id in tournaments),
        *(BoardKey.of_league(league_id, tournament_id) for league_id, tournament_id in leagues),
    ]


def _viewer_from_token(token: str) -> Viewer | None:
    auth = JWTAuthentication()
    try:
        validated = auth.get_validated_token(token.encode())
        user = auth.get_user(validated)
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None
    if not user.is_active:
        return None
    expires_at = validated.get("exp")
    return Viewer(member_id=user.pk, expires_at=float(expires_at) if expires_at is not None else None)
