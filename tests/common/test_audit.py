"""The audit trail: one entry per audited change, in the change's transaction, append-only at the database."""

import io

import pytest
import yaml
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client

from apps.common.audit import audit_record
from apps.common.models import AuditEntry
from apps.ingestion.models import Execution
from apps.ingestion.services import execution_retry, ingestion_run
from apps.leaderboards.models import ScoreAction, SettlementRequest
from apps.leaderboards.settlement.operations import match_settle_now, settlement_request_retry
from apps.leagues.models import League, LeagueMembership
from apps.leagues.services import league_create, league_invite_code_rotate, league_member_add, league_member_remove
from apps.matches.models import Match, Round, Tournament
from apps.matches.services import match_result_correct, round_multiplier_update, tournament_scoring_update
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import MemberFactory, TournamentFactory
from tests.ingestion.conftest import write_json
from tests.leaderboards.helpers import finish, match_in
from tests.matches.admin_forms import submit_change_form

pytestmark = pytest.mark.django_db

RESULT = {
    "status": "finished",
    "home_score": 2,
    "away_score": 1,
    "home_score_et": None,
    "away_score_et": None,
    "home_penalties": None,
    "away_penalties": None,
    "result_version": 1,
}


@pytest.fixture
def staff():
    return MemberFactory(username="alice", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_browser(staff):
    browser = Client()
    browser.force_login(staff)
    return browser


@pytest.fixture
def settled(django_capture_on_commit_callbacks):
    """A match finished 2-1 at result version 1, written as settlement's tests do (no audited service)."""
    tournament = TournamentFactory()
    match = match_in(tournament)
    with django_capture_on_commit_callbacks(execute=True):
        match, _ = finish(match, 2, 1)
    return match


def only_entry(**filters) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(**filters))
    assert len(entries) == 1, [str(entry) for entry in entries]
    return entries[0]


def actor_of(member) -> str:
    return f"{'staff' if member.is_staff else 'member'}:{member.pk} {member.username}"


# --- results ---------------------------------------------------------------------


def test_a_result_corrected_by_staff_is_one_entry_with_the_scores_and_versions_before_and_after(settled, staff):
    match_result_correct(match_id=settled.pk, home_score=1, away_score=1, changed_by=staff)

    entry = only_entry(action="result_changed")
    assert (entry.actor, entry.target_type, entry.target_id) == (f"staff:{staff.pk} alice", "match", str(settled.pk))
    assert entry.before == RESULT
    assert entry.after == {**RESULT, "home_score": 1, "away_score": 1, "result_version": 2}


def test_a_hand_change_that_settles_nothing_is_still_recorded(settled, staff):
    match_result_correct(
        match_id=settled.pk, home_score=2, away_score=1, home_penalties=4, away_penalties=3, changed_by=staff
    )

    entry = only_entry(action="result_changed")
    assert entry.before == RESULT
    assert entry.after == {**RESULT, "home_penalties": 4, "away_penalties": 3}


def test_a_correction_to_the_same_result_writes_no_entry(settled, staff):
    match_result_correct(match_id=settled.pk, home_score=2, away_score=1, changed_by=staff)
    assert not AuditEntry.objects.exists()


def test_a_rolled_back_result_change_leaves_no_entry(settled, staff):
    with pytest.raises(RuntimeError), transaction.atomic():
        match_result_correct(match_id=settled.pk, home_score=0, away_score=3, changed_by=staff)
        assert AuditEntry.objects.count() == 1
        raise RuntimeError("the caller fails after the change")

    assert not AuditEntry.objects.exists()
    assert Match.objects.get(pk=settled.pk).home_score == 2


def test_results_a_feed_brings_are_recorded_under_the_feed_and_fixtures_are_not(tmp_path):
    fixture = {"round": "Final", "num": 1, "date": "2030-07-21", "time": "18:00 UTC", "team1": "ESP", "team2": "BRA"}
    source = write_json(tmp_path / "cup.json", {"name": "Cup 2030", "matches": [fixture]})
    ingestion_run(provider="openfootball", source=str(source), tournament_slug="cup", operation="full")
    assert not AuditEntry.objects.exists()

    write_json(source, {"name": "Cup 2030", "matches": [{**fixture, "score": {"ft": [2, 1]}}]})
    execution = ingestion_run(provider="openfootball", source=str(source), tournament_slug="cup", operation="results")

    assert execution.status == Execution.Status.COMPLETED, execution.error
    match = Match.objects.get(tournament__slug="cup")
    entry = only_entry(action="result_changed")
    assert (entry.actor, entry.target_id) == ("feed:openfootball", str(match.pk))
    scheduled = {**RESULT, "status": "scheduled", "home_score": None, "away_score": None, "result_version": 0}
    assert entry.before == scheduled
    assert entry.after == RESULT


def test_a_result_changed_in_the_admin_carries_the_request_id(settled, staff_browser):
    url = f"/admin/matches/match/{settled.pk}/change/"
    staff_browser.defaults["HTTP_X_REQUEST_ID"] = "abc-123"
    response = submit_change_form(staff_browser, url, home_score=0, away_score=0)

    assert response.status_code == 200
    entry = only_entry(action="result_changed")
    assert entry.request_id == "abc-123"
    assert entry.actor.startswith("staff:") and entry.after["home_score"] == 0


# --- scoring -------------------------------------------------------------------


def test_a_scoring_change_records_the_settings_it_moved(staff):
    tournament = TournamentFactory(points_exact=4)
    unchanged = tournament.lock_minutes
    tournament_scoring_update(
        tournament_id=tournament.pk, changes={"points_exact": 5, "lock_minutes": unchanged}, changed_by=staff
    )

    entry = only_entry(action="scoring_changed")
    assert (entry.target_type, entry.target_id) == ("tournament", str(tournament.pk))
    assert entry.before == {"points_exact": 4}
    assert entry.after == {"points_exact": 5, "resettled": 0}


def test_a_scoring_change_that_changes_nothing_writes_no_entry(staff):
    tournament = TournamentFactory(points_exact=4)
    tournament_scoring_update(tournament_id=tournament.pk, changes={"points_exact": 4}, changed_by=staff)
    assert not AuditEntry.objects.exists()


def test_a_multiplier_change_records_the_old_and_new_multiplier_and_the_resettled_matches(settled, staff):
    round_multiplier_update(round_id=settled.round_id, multiplier=3, changed_by=staff)

    entry = only_entry(action="multiplier_changed")
    assert (entry.target_type, entry.target_id) == ("round", str(settled.round_id))
    assert (entry.before, entry.after) == ({"multiplier": 1}, {"multiplier": 3, "resettled": 1})


# --- settlement ------------------------------------------------------------------


def test_staff_settling_a_match_through_the_api_is_recorded_with_the_request_id(settled, staff):
    response = member_client(staff).post(f"/api/v1/admin/matches/{settled.pk}/settle", HTTP_X_REQUEST_ID="abc-123")

    assert response.status_code == 202, response.content
    entry = only_entry(action="match_settled_manually")
    assert (entry.actor, entry.target_id, entry.request_id) == (actor_of(staff), str(settled.pk), "abc-123")
    assert entry.before == {"result_version": 1, "settled_version": 1}
    assert entry.after["settlement_request"] == response.json()["job_id"]


def test_settling_a_match_that_is_not_finished_writes_no_entry(staff):
    match = match_in(TournamentFactory())
    with pytest.raises(Exception):
        match_settle_now(match_id=match.pk, actor=staff)
    assert not AuditEntry.objects.exists()


def test_retrying_a_dead_letter_is_recorded(settled, staff):
    request = SettlementRequest.objects.get(match=settled)
    SettlementRequest.objects.filter(pk=request.pk).update(status=SettlementRequest.Status.FAILED)

    settlement_request_retry(request_id=request.pk, actor=staff)

    entry = only_entry(action="settlement_retried")
    assert (entry.target_type, entry.target_id) == ("settlementrequest", str(request.pk))
    assert (entry.before, entry.after) == ({"status": "failed"}, {"status": "pending"})


def test_the_admin_retry_and_settle_again_buttons_are_recorded_under_the_staff_member(settled, staff, staff_browser):
    request = SettlementRequest.objects.get(match=settled)
    SettlementRequest.objects.filter(pk=request.pk).update(status=SettlementRequest.Status.FAILED)
    url = "/admin/leaderboards/settlementrequest/"

    staff_browser.post(url, {"action": "retry", "_selected_action": [request.pk]})
    staff_browser.post(url, {"action": "settle_again", "_selected_action": [request.pk]})

    assert only_entry(action="settlement_retried").actor == actor_of(staff)
    assert only_entry(action="match_settled_manually").actor == actor_of(staff)


# --- ingestion -------------------------------------------------------------------


@pytest.fixture
def cup(tmp_path):
    matches = [{"round": "Final", "num": 1, "date": "2030-07-21", "time": "18:00 UTC", "team1": "A", "team2": "B"}]
    source = write_json(tmp_path / "cup.json", {"name": "Cup 2030", "matches": matches})
    execution = ingestion_run(provider="openfootball", source=str(source), tournament_slug="cup", operation="fixtures")
    assert execution.status == Execution.Status.COMPLETED, execution.error
    return Tournament.objects.get(slug="cup")


def test_staff_triggering_an_ingestion_is_recorded_with_the_execution_it_queued(cup, staff):
    response = member_client(staff).post(
        "/api/v1/admin/ingestions",
        {"tournament": cup.pk, "operation": "results"},
        format="json",
        HTTP_X_REQUEST_ID="ingest-1",
    )

    assert response.status_code == 202, response.content
    entry = only_entry(action="ingestion_triggered")
    assert (entry.actor, entry.target_type, entry.target_id) == (actor_of(staff), "tournament", str(cup.pk))
    assert entry.after["execution"] == response.json()["execution_id"]
    assert (entry.after["operation"], entry.after["trigger"], entry.request_id) == ("results", "api", "ingest-1")


def test_retrying_a_failed_execution_is_recorded_under_the_execution_that_failed(cup, staff):
    failed = Execution.objects.get(tournament=cup)
    Execution.objects.filter(pk=failed.pk).update(status=Execution.Status.FAILED)
    failed.refresh_from_db()

    retry = execution_retry(execution=failed, triggered_by=staff)

    entry = only_entry(action="execution_retried")
    assert (entry.target_type, entry.target_id) == ("execution", str(failed.pk))
    assert entry.after["execution"] == retry.pk and entry.actor == actor_of(staff)


# --- leaderboards ----------------------------------------------------------------


def test_a_leaderboard_rebuild_from_the_admin_and_from_the_command_is_recorded(settled, staff, staff_browser):
    tournament_id = settled.tournament_id
    staff_browser.post(
        "/admin/matches/tournament/", {"action": "rebuild_leaderboard", "_selected_action": [tournament_id]}
    )
    call_command("rebuild_leaderboards", tournament=tournament_id, stdout=io.StringIO(), stderr=io.StringIO())

    entries = list(AuditEntry.objects.filter(action="leaderboard_rebuilt").order_by("id"))
    assert [(e.actor, e.target_type, e.target_id) for e in entries] == [
        (actor_of(staff), "tournament", str(tournament_id)),
        ("command:rebuild_leaderboards", "tournament", str(tournament_id)),
    ]
    assert set(entries[1].after) == {"members", "rounds", "leagues"}


def test_score_action_catalogue_changes_are_recorded_with_before_and_after(staff_browser, staff):
    tournament = TournamentFactory()
    staff_browser.post(
        "/admin/leaderboards/scoreaction/add/",
        {"tournament": tournament.pk, "code": "quiz", "name": "Quiz", "points": 2, "limit": 1, "period": "day",
         "is_active": "on"},
    )
    action = ScoreAction.objects.get(code="quiz")
    submit_change_form(staff_browser, f"/admin/leaderboards/scoreaction/{action.pk}/change/", points=5)
    staff_browser.post(f"/admin/leaderboards/scoreaction/{action.pk}/delete/", {"post": "yes"})

    assert not ScoreAction.objects.exists()
    created, changed, deleted = AuditEntry.objects.filter(action="score_action_changed").order_by("id")
    values = {"tournament": tournament.pk, "code": "quiz", "name": "Quiz", "points": 2, "limit": 1, "period": "day",
              "is_active": True}
    assert (created.before, created.after) == (None, values)
    assert (changed.before, changed.after) == (values, {**values, "points": 5})
    assert (deleted.before, deleted.after) == ({**values, "points": 5}, None)
    assert {e.actor for e in (created, changed, deleted)} == {actor_of(staff)}
    assert {e.target_id for e in (created, changed, deleted)} == {str(action.pk)}


# --- leagues ---------------------------------------------------------------------


@pytest.fixture
def league():
    owner, other = MemberFactory(), MemberFactory()
    league = league_create(tournament_id=TournamentFactory().pk, owner_id=owner.pk, name="Friends")
    league_member_add(league=league, member_id=other.pk)
    return League.objects.get(pk=league.pk), owner, other


def test_the_owner_rotating_the_code_is_recorded_without_the_codes_themselves(league):
    league, owner, _ = league
    old = league.invite_code
    new = league_invite_code_rotate(league_id=league.pk, member_id=owner.pk).invite_code

    entry = only_entry(action="league_code_rotated")
    assert (entry.actor, entry.target_type, entry.target_id) == (f"member:{owner.pk}", "league", str(league.pk))
    assert (entry.before, entry.after) == ({"invite_code_ends": old[-4:]}, {"invite_code_ends": new[-4:]})
    assert old not in str(entry.before) and new not in str(entry.after)


def test_a_rotation_refused_to_a_non_owner_writes_no_entry(league):
    league, _, other = league
    with pytest.raises(Exception):
        league_invite_code_rotate(league_id=league.pk, member_id=other.pk)
    assert not AuditEntry.objects.exists()


def test_the_owner_removing_a_member_is_recorded_and_a_member_leaving_is_not(league):
    league, owner, other = league
    third = MemberFactory()
    league_member_add(league=league, member_id=third.pk)

    league_member_remove(league_id=league.pk, actor_id=third.pk, member_id=third.pk)
    assert not AuditEntry.objects.exists()
    league_member_remove(league_id=league.pk, actor_id=owner.pk, member_id=other.pk)

    entry = only_entry(action="league_member_removed")
    assert (entry.actor, entry.target_id) == (f"member:{owner.pk}", str(league.pk))
    assert entry.before == {"member": other.pk, "owner": owner.pk}
    assert entry.after == {"member": None, "invite_code_rotated": True}


def test_staff_removing_a_member_in_the_admin_is_recorded_under_the_staff_member(league, staff, staff_browser):
    league, _, other = league
    membership = LeagueMembership.objects.get(league=league, member=other)
    staff_browser.post(f"/admin/leagues/leaguemembership/{membership.pk}/delete/", {"post": "yes"})

    assert not LeagueMembership.objects.filter(pk=membership.pk).exists()
    assert only_entry(action="league_member_removed").actor == actor_of(staff)


# --- one transaction with the change ----------------------------------------------


def _rolled_back(call) -> None:
    """Run `call` in a transaction that fails after it: inside, its entry exists; after, nothing does."""
    with pytest.raises(RuntimeError), transaction.atomic():
        call()
        assert AuditEntry.objects.count() == 1
        raise RuntimeError("the caller fails after the change")
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("change", ["scoring", "multiplier", "settle_now", "settlement_retry"])
def test_a_rolled_back_staff_operation_leaves_no_entry_and_no_change(settled, staff, change):
    request = SettlementRequest.objects.get(match=settled)
    SettlementRequest.objects.filter(pk=request.pk).update(status=SettlementRequest.Status.FAILED)
    calls = {
        "scoring": lambda: tournament_scoring_update(
            tournament_id=settled.tournament_id, changes={"points_exact": 9}, changed_by=staff
        ),
        "multiplier": lambda: round_multiplier_update(round_id=settled.round_id, multiplier=4, changed_by=staff),
        "settle_now": lambda: match_settle_now(match_id=settled.pk, actor=staff),
        "settlement_retry": lambda: settlement_request_retry(request_id=request.pk, actor=staff),
    }

    _rolled_back(calls[change])

    assert Tournament.objects.get(pk=settled.tournament_id).points_exact != 9
    assert Round.objects.get(pk=settled.round_id).multiplier == 1
    assert list(SettlementRequest.objects.filter(match=settled).values_list("status", flat=True)) == ["failed"]


def test_a_rolled_back_ingestion_trigger_or_retry_leaves_no_entry_and_no_execution(cup, staff):
    failed = Execution.objects.get(tournament=cup)
    Execution.objects.filter(pk=failed.pk).update(status=Execution.Status.FAILED)
    failed.refresh_from_db()

    _rolled_back(lambda: execution_retry(execution=failed, triggered_by=staff))

    assert Execution.objects.filter(tournament=cup).count() == 1


def test_a_rolled_back_league_change_leaves_no_entry_and_the_code_and_member_in_place(league):
    league, owner, other = league
    _rolled_back(lambda: league_invite_code_rotate(league_id=league.pk, member_id=owner.pk))
    _rolled_back(lambda: league_member_remove(league_id=league.pk, actor_id=owner.pk, member_id=other.pk))

    assert League.objects.get(pk=league.pk).invite_code == league.invite_code
    assert LeagueMembership.objects.filter(league=league, member=other).exists()


# --- the table refuses changes ----------------------------------------------------


@pytest.fixture
def entry():
    return audit_record(actor="system", action="leaderboard_rebuilt", target=("tournament", 1), after={"queued": True})


@pytest.mark.parametrize(
    "statement",
    ["UPDATE common_auditentry SET actor = 'someone else'", "DELETE FROM common_auditentry"],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_change_or_delete_an_entry(entry, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)

    assert AuditEntry.objects.get(pk=entry.pk).actor == "system"


def test_the_orm_cannot_delete_an_entry_either(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_an_unknown_action_is_refused_before_it_is_written():
    with pytest.raises(ValueError, match="Unknown audit action"):
        audit_record(actor="system", action="result_change", target=("match", 1))
    assert not AuditEntry.objects.exists()


# --- the API ---------------------------------------------------------------------


def _entries():
    audit_record(actor="feed:openfootball", action="result_changed", target=("match", 7), before=None, after={"a": 1})
    audit_record(actor="staff:12 alice", action="result_changed", target=("match", 7), before={"a": 1}, after={"a": 2})
    audit_record(actor="staff:123 bob", action="scoring_changed", target=("tournament", 3), after={"b": 1})


def test_staff_list_the_trail_newest_first_with_every_field(staff):
    _entries()
    response = member_client(staff).get("/api/v1/admin/audit")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [r["actor"] for r in body["results"]] == ["staff:123 bob", "staff:12 alice", "feed:openfootball"]
    assert set(body["results"][1]) == {
        "id", "at", "actor", "action", "target_type", "target_id", "before", "after", "request_id"
    }
    assert (body["results"][1]["before"], body["results"][1]["after"]) == ({"a": 1}, {"a": 2})


@pytest.mark.parametrize(
    ("query", "actors"),
    [
        ("actor=staff:12", ["staff:12 alice"]),
        ("actor=feed:openfootball", ["feed:openfootball"]),
        ("action=scoring_changed", ["staff:123 bob"]),
        ("target_type=match&target_id=7", ["staff:12 alice", "feed:openfootball"]),
        ("since=2999-01-01", []),
        ("since=2000-01-01T00:00:00Z&target_type=tournament", ["staff:123 bob"]),
    ],
)
def test_staff_narrow_the_trail_with_filters(staff, query, actors):
    _entries()
    response = member_client(staff).get(f"/api/v1/admin/audit?{query}")
    assert response.status_code == 200, response.content
    assert [r["actor"] for r in response.json()["results"]] == actors


def test_a_bad_filter_is_a_400_naming_the_field(staff):
    response = member_client(staff).get("/api/v1/admin/audit?action=nonsense&since=yesterday")
    assert response.status_code == 400
    assert set(response.json()) == {"action", "since"}


def test_members_get_403_and_anonymous_callers_401_from_the_audit_api():
    assert_error(member_client(MemberFactory()).get("/api/v1/admin/audit"), 403, "permission_denied")
    assert_error(anonymous_client().get("/api/v1/admin/audit"), 401, "not_authenticated")


def test_the_admin_lists_entries_read_only(staff_browser, entry):
    listing = staff_browser.get("/admin/common/auditentry/?action=leaderboard_rebuilt&actor_kind=system")
    assert listing.status_code == 200 and "leaderboard_rebuilt" in listing.content.decode()
    page = staff_browser.get(f"/admin/common/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and "Save" not in page.content.decode()
    assert staff_browser.get("/admin/common/auditentry/add/").status_code == 403
    assert staff_browser.post(f"/admin/common/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_schema_declares_the_audit_list_with_its_filters_and_error_codes(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    operation = yaml.safe_load((tmp_path / "schema.yaml").read_text())["paths"]["/api/v1/admin/audit"]["get"]

    assert {p["name"] for p in operation["parameters"]} == {
        "actor", "action", "target_type", "target_id", "since", "limit", "offset"
    }
    assert {code for code in operation["responses"] if code.startswith("4")} == {"400", "401", "403", "429"}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("PaginatedAuditEntryOutputList")
