"""Who may watch a live board: tournament boards are public, league boards need a member's token."""

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.common.errors import ApplicationError, Forbidden, NotFound
from apps.leaderboards.boards.keys import LEAGUE, TOURNAMENT, BoardKey
from apps.leagues.selectors import league_is_member, league_tournament_id
from apps.matches.models import Tournament


def board_access_check(*, board: BoardKey, token: str | None) -> None:
    """Refuse a live board the caller may not watch.

    Raises NotFound for an unknown board, a 401 ApplicationError for a league
    board without a valid access token, Forbidden for a non-member. Tournament
    boards are public; a token sent to one is ignored.
    """
    board_id = board.id
    if board.kind == TOURNAMENT:
        if not Tournament.objects.filter(pk=board_id).exists():
            raise NotFound("tournament_not_found", "No tournament has this id.")
        return
    if board.kind != LEAGUE:
        raise NotFound("not_found", "Only tournament and league boards are live.")
    if league_tournament_id(league_id=board_id) is None:
        raise NotFound("league_not_found", "No league has this id.")
    if not token:
        raise ApplicationError(
            "not_authenticated", "League boards need a member's access token.", status_code=401
        )
    member_id = _member_from_token(token)
    if member_id is None:
        raise ApplicationError("token_not_valid", "The access token is invalid or expired.", status_code=401)
    if not league_is_member(league_id=board_id, member_id=member_id):
        raise Forbidden("not_league_member", "Only members of this league can watch its board.")


def _member_from_token(token: str) -> int | None:
    auth = JWTAuthentication()
    try:
        user = auth.get_user(auth.get_validated_token(token.encode()))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None
    return user.pk if user.is_active else None
