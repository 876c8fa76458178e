"""Rank snapshots (SCORING.md "Rank snapshots and history"): rank_delta on both read paths, history, the daily
beat, the staff endpoint."""

from datetime import datetime, timezone as dt_timezone

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.test.utils import CaptureQueriesContext

from apps.common.models import AuditEntry
from apps.leaderboards.boards import pages, projection_write, selectors
from apps.leaderboards.boards.keys import SNAPSHOT_ID_FIELD, snapshot_key
from apps.leaderboards.boards.projection_read import redis_client
from apps.leaderboards.boards.ranking import Entry, rank_entries
from apps.leaderboards.boards.signals import boards_changed
from apps.leaderboards.boards.snapshots import record
from apps.leaderboards.boards.snapshots.record import snapshot_record
from apps.leaderboards.boards.snapshots.tasks import rank_snapshots_daily
from apps.leaderboards.models import BoardState, RankSnapshot, RankSnapshotRow, Standing
from apps.leagues.services import league_join
from apps.matches.models import Tournament
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import LeagueFactory, LeagueMembershipFactory, MemberFactory, TournamentFactory

from .helpers import finish, guesses, leaderboard_page, match_in, players

pytestmark = pytest.mark.django_db

# Points before the snapshot, by member: ranks 1..6. The member at rank 5 (2 points)
# then scores an exact 2-1 (4 points): 6 points puts them second.
SEEDED = [10, 5, 4, 3, 2, 0]
CLIMBER = 4


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    pages.known_forget()
    yield
    pages.known_forget()


@pytest.fixture
def cup():
    tournament = TournamentFactory(status=Tournament.Status.RUNNING)
    members = players(tournament, len(SEEDED))
    for member, points in zip(members, SEEDED):
        Standing.objects.filter(tournament=tournament, member=member).update(points=points)
    league = LeagueFactory(tournament=tournament, owner=members[0])
    for index in (0, 1, CLIMBER, 5):
        LeagueMembershipFactory(league=league, member=members[index])
    return tournament, members, league


@pytest.fixture(params=["redis", "database"])
def path(request, settings, cup):
    if request.param == "redis":
        projection_write.projection_rebuild(tournament_id=cup[0].id)
    else:
        settings.REDIS_URL = ""
    return request.param


def _settle_the_climb(tournament, members, capture):
    match = match_in(tournament)
    guesses(match, {members[CLIMBER]: (2, 1), members[0]: (0, 3)})
    with capture(execute=True):
        finish(match, 2, 1)


def _deltas(rows) -> dict[int, tuple[int, int | None]]:
    return {row["member"]["id"]: (row["rank"], row["rank_delta"]) for row in rows}


def test_a_climb_from_fifth_to_second_shows_a_delta_of_three_on_the_tournament_board(
    cup, path, django_capture_on_commit_callbacks
):
    tournament, members, _ = cup
    board = f"tournament:{tournament.id}"
    assert all(row["rank_delta"] is None for row in leaderboard_page(board=board, limit=10, offset=0)["rows"])

    snapshot = snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    assert snapshot.total == len(SEEDED)
    # Right after the snapshot nobody has moved.
    page = leaderboard_page(board=board, limit=10, offset=0)
    assert page["source"] == path
    assert {delta for _, delta in _deltas(page["rows"]).values()} == {0}

    _settle_the_climb(tournament, members, django_capture_on_commit_callbacks)
    page = leaderboard_page(board=board, limit=10, offset=0)
    assert page["source"] == path
    deltas = _deltas(page["rows"])
    assert deltas[members[CLIMBER].id] == (2, 3)
    assert deltas[members[0].id] == (1, 0)
    assert deltas[members[1].id] == (3, -1)
    assert deltas[members[5].id] == (6, 0)

    # Around me reads the same rows the same way.
    around = leaderboard_page(board=board, limit=1, offset=1)["rows"][0]
    assert (around["member"]["id"], around["rank_delta"]) == (members[CLIMBER].id, 3)


def test_a_league_compares_league_ranks_from_the_snapshot_totals(cup, path, django_capture_on_commit_callbacks):
    tournament, members, league = cup
    latecomer = MemberFactory()  # in the league, never in the tournament: not in the snapshot
    LeagueMembershipFactory(league=league, member=latecomer)
    snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    _settle_the_climb(tournament, members, django_capture_on_commit_callbacks)

    page = leaderboard_page(board=f"league:{league.id}", limit=10, offset=0)
    assert page["source"] == path
    # At the snapshot the league ranked 10, 5, 2, 0 (members 0, 1, 4, 5); now 10, 6, 5, 0.
    assert _deltas(page["rows"]) == {
        members[0].id: (1, 0),
        members[CLIMBER].id: (2, 1),
        members[1].id: (3, -1),
        members[5].id: (4, 0),
        latecomer.id: (4, None),
    }


def test_both_paths_answer_the_same_deltas(cup, settings, django_capture_on_commit_callbacks):
    tournament, members, league = cup
    projection_write.projection_rebuild(tournament_id=tournament.id)
    snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    _settle_the_climb(tournament, members, django_capture_on_commit_callbacks)
    boards = [f"tournament:{tournament.id}", f"league:{league.id}"]
    from_redis = [leaderboard_page(board=board, limit=10, offset=0) for board in boards]
    settings.REDIS_URL = ""
    from_database = [leaderboard_page(board=board, limit=10, offset=0) for board in boards]
    assert [page["source"] for page in from_redis + from_database] == ["redis"] * 2 + ["database"] * 2
    assert [page["rows"] for page in from_redis] == [page["rows"] for page in from_database]


def test_snapshot_ranks_are_the_scoring_md_ranks():
    tournament = TournamentFactory()
    table = [(10, 2), (10, 2), (10, 1), (8, 3), (12, 0), (0, 0), (8, 3)]
    members = MemberFactory.create_batch(len(table))
    Standing.objects.bulk_create(
        Standing(tournament=tournament, member=m, points=p, exact_hits=e) for m, (p, e) in zip(members, table)
    )
    snapshot = snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    recorded = dict(RankSnapshotRow.objects.filter(snapshot=snapshot).values_list("member_id", "rank"))
    expected = {entry.member_id: rank for rank, entry in rank_entries(Entry(m.id, p, e) for m, (p, e) in zip(members, table))}
    assert recorded == expected


def test_a_snapshot_changes_the_page_version_and_etag_and_fills_the_redis_hash(cup, django_capture_on_commit_callbacks):
    tournament, members, _ = cup
    projection_write.projection_rebuild(tournament_id=tournament.id)
    assert redis_client().hget(snapshot_key(tournament.id), SNAPSHOT_ID_FIELD) == b"0"
    url = f"/api/v1/tournaments/{tournament.id}/leaderboard"
    before = anonymous_client().get(url)
    assert before.status_code == 200 and before.json()["results"][0]["rank_delta"] is None

    snapshot = snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    assert redis_client().hget(snapshot_key(tournament.id), SNAPSHOT_ID_FIELD) == str(snapshot.pk).encode()
    after = anonymous_client().get(url, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    assert after.json()["version"] == before.json()["version"] + 1 == BoardState.objects.get(pk=tournament.id).version
    assert after.json()["results"][0]["rank_delta"] == 0


def test_a_lost_snapshot_hash_is_answered_from_the_database_and_rebuilt(cup):
    tournament, _, _ = cup
    projection_write.projection_rebuild(tournament_id=tournament.id)
    snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    redis_client().delete(snapshot_key(tournament.id))
    page = leaderboard_page(board=f"tournament:{tournament.id}", limit=3, offset=0)
    assert page["rows"][0]["rank_delta"] == 0
    # The read asked for a rebuild (eager here): the hash is back and Redis answers again.
    assert redis_client().exists(snapshot_key(tournament.id))
    assert leaderboard_page(board=f"tournament:{tournament.id}", limit=3, offset=0)["source"] == "redis"


def test_history_lists_every_snapshot_oldest_first(cup, django_capture_on_commit_callbacks):
    tournament, members, _ = cup
    first = snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    _settle_the_climb(tournament, members, django_capture_on_commit_callbacks)
    second = snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)

    response = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{members[CLIMBER].id}/history")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public")
    history = response.json()
    assert [(entry["rank"], entry["points"], entry["total"]) for entry in history] == [(5, 2, 6), (2, 6, 6)]
    assert [datetime.fromisoformat(entry["as_of"].replace("Z", "+00:00")) for entry in history] == [
        first.as_of,
        second.as_of,
    ]


def test_history_answers_404_for_an_unknown_tournament_or_a_member_not_taking_part(cup):
    tournament, members, _ = cup
    assert_error(anonymous_client().get(f"/api/v1/tournaments/999999/members/{members[0].id}/history"), 404)
    outsider = MemberFactory()
    response = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{outsider.id}/history")
    assert_error(response, 404, "not_participating")
    # A participant before the first snapshot has an empty history.
    assert anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{members[0].id}/history").json() == []


def _clock(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(dt_timezone.utc).isoformat()


def test_the_daily_beat_records_once_per_local_day_and_not_for_a_finished_tournament(cup):
    tokyo, _, _ = cup
    Tournament.objects.filter(pk=tokyo.pk).update(time_zone="Asia/Tokyo")
    finished = TournamentFactory(status=Tournament.Status.FINISHED)
    players(finished, 2)

    # 23:50 in Tokyo on 1 June, then 00:05 and 09:00 on 2 June (15:05 and 00:00 UTC).
    assert rank_snapshots_daily(now=_clock("2026-06-01T23:50:00+09:00")) == [tokyo.id]
    assert rank_snapshots_daily(now=_clock("2026-06-01T23:59:00+09:00")) == []
    assert rank_snapshots_daily(now=_clock("2026-06-02T00:05:00+09:00")) == [tokyo.id]
    assert rank_snapshots_daily(now=_clock("2026-06-02T09:00:00+09:00")) == []

    daily = RankSnapshot.objects.filter(tournament=tokyo, trigger=RankSnapshot.Trigger.DAILY).order_by("as_of")
    assert [str(s.local_date) for s in daily] == ["2026-06-01", "2026-06-02"]
    assert all(s.total == len(SEEDED) for s in daily)
    assert not RankSnapshot.objects.filter(tournament=finished).exists()


def test_a_second_daily_snapshot_of_the_same_day_is_not_recorded_and_the_database_refuses_one(cup, monkeypatch):
    tournament, _, _ = cup
    day = datetime(2026, 6, 2).date()
    assert snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.DAILY, local_date=day)
    assert snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.DAILY, local_date=day) is None
    # A job that passed the first check while another recorded the day: the unique constraint keeps one.
    monkeypatch.setattr(record, "_daily_recorded", lambda tournament_id, local_date: False)
    assert snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.DAILY, local_date=day) is None
    assert RankSnapshot.objects.filter(tournament=tournament).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        RankSnapshot.objects.create(
            tournament=tournament, as_of=timezone.now(), local_date=day, trigger=RankSnapshot.Trigger.DAILY
        )
    # Staff snapshots are never limited.
    assert snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)


def test_staff_record_a_snapshot_with_an_audited_job(cup, django_capture_on_commit_callbacks):
    tournament, members, _ = cup
    url = f"/api/v1/admin/tournaments/{tournament.id}/snapshot"
    assert_error(member_client(members[0]).post(url), 403)
    assert_error(anonymous_client().post(url), 401)
    assert not RankSnapshot.objects.exists()

    staff = MemberFactory(is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client(staff).post(url)
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    snapshot = RankSnapshot.objects.get(tournament=tournament)
    assert (snapshot.trigger, snapshot.total) == (RankSnapshot.Trigger.STAFF, len(SEEDED))
    entry = AuditEntry.objects.get(action="rank_snapshot_requested")
    assert (entry.target_type, entry.target_id, entry.after) == ("tournament", str(tournament.id), {"job_id": job_id})
    assert entry.actor.startswith(f"staff:{staff.id} ")

    assert_error(member_client(staff).post("/api/v1/admin/tournaments/999999/snapshot"), 404, "tournament_not_found")


def test_staff_record_a_snapshot_from_the_tournament_admin(cup, client, django_capture_on_commit_callbacks):
    tournament, _, _ = cup
    staff = MemberFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/matches/tournament/", {"action": "record_rank_snapshot", "_selected_action": [tournament.id]}
        )
    assert response.status_code == 302
    assert RankSnapshot.objects.get(tournament=tournament).trigger == RankSnapshot.Trigger.STAFF
    assert AuditEntry.objects.filter(action="rank_snapshot_requested", target_id=str(tournament.id)).count() == 1
    assert client.get("/admin/leaderboards/ranksnapshot/").status_code == 200


def test_a_snapshot_announces_its_tournament_and_league_boards_to_the_live_push(cup):
    tournament, _, league = cup
    announced = []

    def listen(sender, boards, **kwargs):
        announced.extend(str(board) for board in boards)

    boards_changed.connect(listen)
    try:
        snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    finally:
        boards_changed.disconnect(listen)
    assert sorted(announced) == sorted([f"tournament:{tournament.id}", f"league:{league.id}"])


def test_a_league_reads_its_snapshot_ranks_from_redis_once_built_and_follows_its_members(
    cup, django_capture_on_commit_callbacks
):
    tournament, members, league = cup
    projection_write.projection_rebuild(tournament_id=tournament.id)
    snapshot_record(tournament_id=tournament.id, trigger=RankSnapshot.Trigger.STAFF)
    board = f"league:{league.id}"
    leaderboard_page(board=board, limit=10, offset=0)  # the first read after the snapshot has the league rebuilt
    with CaptureQueriesContext(connection) as queries:
        page = selectors.leaderboard_page(board=board, limit=10, offset=0)
    assert page["source"] == "redis" and not page["projection_missing"]
    assert not [q for q in queries if "ranksnapshot" in q["sql"]], "deltas came from the database"
    assert _deltas(page["rows"])[members[CLIMBER].id] == (3, 0)

    # Member 2 (4 points, third of the tournament at the snapshot) joins: the league's ranks at the
    # snapshot count them now, so the climber (2 points) was fourth of the league then.
    with django_capture_on_commit_callbacks(execute=True):
        league_join(member_id=members[2].id, invite_code=league.invite_code)
    _settle_the_climb(tournament, members, django_capture_on_commit_callbacks)
    page = leaderboard_page(board=board, limit=10, offset=0)
    assert page["source"] == "redis"
    # Now 10, 6, 5, 4, 0: the climber went from fourth to second of the league.
    assert _deltas(page["rows"])[members[CLIMBER].id] == (2, 2)
    assert _deltas(page["rows"])[members[2].id] == (4, -1)
