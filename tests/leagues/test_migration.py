"""Leagues moved out of the leaderboards app without losing a row (leagues 0001, leaderboards 0007 and 0008).

Migrates the test database back to the schema before the move, writes
members, a league with memberships, standings and a settled match through
that schema's models, migrates forward and reads every row back through
today's models.
"""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.leaderboards.models import Standing
from apps.leagues.models import League, LeagueMembership
from apps.matches.models import Match, SettlementKind

BEFORE = [
    ("leaderboards", "0006_round_standing_key"),
    ("matches", "0003_match_result_by_hand"),
    ("leagues", None),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([target for target in targets if target[1] is not None]).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_leagues_members_and_standings_survive_the_move_to_their_own_app():
    old = _migrate(BEFORE)
    try:
        Member = old.get_model("members", "Member")
        Tournament = old.get_model("matches", "Tournament")
        Round = old.get_model("matches", "Round")
        Team = old.get_model("matches", "Team")
        OldMatch = old.get_model("matches", "Match")
        OldLeague = old.get_model("leaderboards", "League")
        OldMembership = old.get_model("leaderboards", "LeagueMembership")
        OldStanding = old.get_model("leaderboards", "Standing")
        SettlementRequest = old.get_model("leaderboards", "SettlementRequest")

        members = [Member.objects.create(username=f"old{i}", password="!") for i in range(3)]
        cup = Tournament.objects.create(name="Old Cup", slug="old-cup")
        round_ = Round.objects.create(tournament=cup, name="Final", name_key="final")
        home = Team.objects.create(tournament=cup, name="A", name_key="a")
        away = Team.objects.create(tournament=cup, name="B", name_key="b")
        kickoff = datetime(2026, 7, 19, 19, tzinfo=UTC)
        settled = OldMatch.objects.create(
            tournament=cup, round=round_, home_team=home, away_team=away, kickoff_at=kickoff,
            status="finished", home_score=2, away_score=1, result_version=2,
        )  # fmt: skip
        pending = OldMatch.objects.create(
            tournament=cup, round=round_, home_team=away, away_team=home, kickoff_at=kickoff,
            status="finished", home_score=0, away_score=0, result_version=1,
        )  # fmt: skip
        for match, version, status in ((settled, 1, "done"), (settled, 2, "done"), (pending, 1, "pending")):
            SettlementRequest.objects.create(
                match=match, result_version=version, kind="settle", status=status,
                idempotency_key=f"settlement:{match.pk}:{version}",
            )  # fmt: skip
        league = OldLeague.objects.create(tournament=cup, name="Office", owner=members[0], invite_code="OLD-CODE")
        for member in members:
            OldMembership.objects.create(league=league, member=member)
            OldStanding.objects.create(tournament=cup, member=member, points=member.pk % 7, exact_hits=1)
    finally:
        _migrate(_latest())

    moved = League.objects.get(pk=league.pk)
    assert (moved.name, moved.invite_code, moved.owner_id, moved.tournament_id) == (
        "Office", "OLD-CODE", members[0].pk, cup.pk,
    )  # fmt: skip
    assert sorted(LeagueMembership.objects.filter(league=moved).values_list("member_id", flat=True)) == sorted(
        member.pk for member in members
    )
    assert {(s.member_id, s.points) for s in Standing.objects.filter(tournament_id=cup.pk)} == {
        (member.pk, member.pk % 7) for member in members
    }
    assert Match.objects.get(pk=settled.pk).is_settled
    assert Match.objects.get(pk=settled.pk).settlement_kind == SettlementKind.SETTLE
    assert not Match.objects.get(pk=pending.pk).is_settled
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_label FROM django_content_type WHERE model = 'league'")
        assert [row[0] for row in cursor.fetchall()] == ["leagues"]
