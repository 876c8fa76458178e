"""Boards with members and matches for the live tests, settled by the real settlement path."""

import json
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from rest_framework_simplejwt.tokens import AccessToken

from apps.leaderboards.models import SettlementRequest
from apps.leagues.models import League
from apps.leagues.services import league_create, league_member_add
from apps.leaderboards.settlement.outbox import settlement_request_write
from apps.matches.models import Match, Tournament
from apps.matches.services import match_result_save, match_result_snapshot, tournament_join
from apps.members.models import Member
from tests.factories import GuessFactory, MatchFactory, MemberFactory, RoundFactory, TournamentFactory


@dataclass
class Board:
    tournament: Tournament
    members: list[Member]
    league: League | None = None
    matches: list[Match] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"tournament:{self.tournament.pk}"


def board_make(*, members: int = 12, league_members: int = 0) -> Board:
    """A running tournament whose members all joined (0 points each, so ranks 1..n list by id)."""
    tournament = TournamentFactory(status=Tournament.Status.RUNNING)
    people = [MemberFactory(display_name=f"Player {i:02d}") for i in range(1, members + 1)]
    for member in people:
        tournament_join(tournament_id=tournament.pk, member_id=member.pk)
    league = None
    if league_members:
        league = league_create(tournament_id=tournament.pk, owner_id=people[0].pk, name="Friends")
        for member in people[1:league_members]:
            league_member_add(league=league, member_id=member.pk)
    return Board(tournament=tournament, members=people, league=league)


def match_with_exact_guess(board: Board, *, winners: list[Member], score: tuple[int, int] = (2, 1)) -> Match:
    """A match that `winners` guess exactly and everyone else gets wrong (0 points)."""
    match = MatchFactory(tournament=board.tournament, round=RoundFactory(tournament=board.tournament))
    winner_ids = {m.pk for m in winners}
    for member in board.members:
        if member.pk in winner_ids:
            GuessFactory(match=match, member=member, home_goals=score[0], away_goals=score[1])
        else:
            GuessFactory(match=match, member=member, home_goals=score[1], away_goals=score[0] + 1)
    board.matches.append(match)
    return match


def match_finish(match: Match, *, score: tuple[int, int] = (2, 1)) -> SettlementRequest:
    """Record the final result and its settlement request in one transaction, as ingestion does."""
    with transaction.atomic():
        Match.objects.filter(pk=match.pk).update(
            status=Match.Status.FINISHED,
            home_score=score[0],
            away_score=score[1],
            result_version=F("result_version") + 1,
        )
        match.refresh_from_db()
        return settlement_request_write(match=match)


def match_play(match: Match, *, score: tuple[int, int]) -> Match:
    """The feed reports the match in play at `score` (it settles provisionally), saved as ingestion saves it."""
    with transaction.atomic():
        match = Match.objects.select_for_update().select_related("tournament").get(pk=match.pk)
        before = match_result_snapshot(match=match)
        match.status, match.home_score, match.away_score = Match.Status.LIVE, *score
        match_result_save(match=match, before=before, actor="feed:test")
    return match


def settlement_done(request: SettlementRequest) -> bool:
    request.refresh_from_db()
    if request.status == SettlementRequest.Status.FAILED:
        raise AssertionError(f"settlement failed: {request.last_error}")
    return request.status == SettlementRequest.Status.DONE


def access_token(member: Member) -> str:
    return str(AccessToken.for_user(member))


def leader_name(message: dict) -> str:
    return message["top"][0]["member"]["display_name"]


def parse(text: str) -> dict:
    return json.loads(text)
