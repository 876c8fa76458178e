"""Scoring settings and round multipliers changed after settlement re-settle the tournament (SCORING.md)."""

import threading

import pytest
from django.db import connection, transaction

from apps.common.errors import ApplicationError
from apps.leaderboards.models import SettlementRequest
from apps.leaderboards.settlement.verify import standings_verify
from apps.matches.models import Match, Round, Tournament
from apps.matches.services import round_multiplier_update, tournament_scoring_update
from tests.common.api import member_client
from tests.factories import RoundFactory, TournamentFactory
from tests.leaderboards.helpers import (
    expected_totals,
    finish,
    guesses,
    match_in,
    players,
    round_standings,
    standings,
    void,
)
from tests.waiting import wait_until

from .admin_forms import page_messages, submit_change_form
from .conftest import PICKS

pytestmark = pytest.mark.django_db


def _all_standings(tournament, members) -> dict:
    """member id -> (points, exact, outcome) for every member, zero rows included."""
    found = standings(tournament)
    return {member.id: found.get(member.id, (0, 0, 0)) for member in members}


def _done(match) -> SettlementRequest:
    return SettlementRequest.objects.filter(match=match, status=SettlementRequest.Status.DONE).latest("id")


def test_raising_points_exact_moves_exact_hitters_by_exactly_the_difference(cup, django_capture_on_commit_callbacks):
    tournament, match, members = cup
    before = _all_standings(tournament, members)
    first = _done(match)

    with django_capture_on_commit_callbacks(execute=True):
        change = tournament_scoring_update(tournament_id=tournament.id, changes={"points_exact": 7})

    assert change.changed == ("points_exact",) and change.resettled == 1
    after = _all_standings(tournament, members)
    for member, pick in zip(members, PICKS):
        moved = after[member.id][0] - before[member.id][0]
        assert moved == (7 - 4 if pick == (2, 1) else 0), (pick, moved)
        # Hits do not move: the same guesses are right, only their worth changed.
        assert after[member.id][1:] == before[member.id][1:]
    match.refresh_from_db()
    assert match.result_version == 2
    second = _done(match)
    assert (second.result_version, second.base_id, second.applied_points_exact) == (2, first.id, 7)
    assert standings(tournament) == expected_totals([(match, (2, 1))])
    assert round_standings(match.round) == expected_totals([(match, (2, 1))])
    assert standings_verify(tournament_id=tournament.id) == []


def test_lowering_every_points_setting_moves_each_member_by_new_minus_old(cup, django_capture_on_commit_callbacks):
    tournament, match, members = cup
    before = _all_standings(tournament, members)
    with django_capture_on_commit_callbacks(execute=True):
        tournament_scoring_update(
            tournament_id=tournament.id,
            changes={"points_exact": 3, "points_goal_difference": 2, "points_outcome": 1},
        )

    after = _all_standings(tournament, members)
    # Per kind of hit: exact 4 -> 3, goal difference 3 -> 2, outcome 2 -> 1, nothing stays nothing.
    assert sorted(after[m.id][0] - before[m.id][0] for m in members) == [-1] * 5 + [0] * 5
    assert standings(tournament) == expected_totals([(match, (2, 1))])
    assert standings_verify(tournament_id=tournament.id) == []


def test_a_points_change_re_settles_every_settled_match_and_nothing_else(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 3)
    settled = [match_in(tournament) for _ in range(3)]
    scheduled, cancelled = match_in(tournament), match_in(tournament)
    for match in [*settled, scheduled, cancelled]:
        guesses(match, {m: (1, 0) for m in members})
    with django_capture_on_commit_callbacks(execute=True):
        for match in settled:
            finish(match, 1, 0)
        finish(cancelled, 1, 0)
        void(cancelled)
    last_before = SettlementRequest.objects.latest("id").id

    with django_capture_on_commit_callbacks(execute=True):
        change = tournament_scoring_update(tournament_id=tournament.id, changes={"points_exact": 5})

    assert change.resettled == 3
    written = SettlementRequest.objects.filter(id__gt=last_before)
    assert sorted(written.values_list("match_id", "kind", "status")) == [(m.id, "settle", "done") for m in settled]
    assert Match.objects.get(pk=scheduled.pk).result_version == 0
    assert all(points == 15 for points, *_ in standings(tournament).values())
    assert standings_verify(tournament_id=tournament.id) == []


def test_changing_lock_minutes_writes_no_settlement_request(cup, django_capture_on_commit_callbacks):
    tournament, match, members = cup
    before = (SettlementRequest.objects.count(), _all_standings(tournament, members))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change = tournament_scoring_update(tournament_id=tournament.id, changes={"lock_minutes": 45})

    assert change.changed == ("lock_minutes",) and change.resettled == 0
    assert callbacks == []
    assert Tournament.objects.get(pk=tournament.pk).lock_minutes == 45
    assert Match.objects.get(pk=match.pk).result_version == 1
    assert (SettlementRequest.objects.count(), _all_standings(tournament, members)) == before


def test_setting_a_value_it_already_has_re_settles_nothing(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change = tournament_scoring_update(tournament_id=tournament.id, changes={"points_exact": 4})
    assert change.changed == () and change.resettled == 0 and callbacks == []
    assert SettlementRequest.objects.filter(match=match).count() == 1


def test_counting_extra_time_re_settles_only_matches_that_went_to_extra_time(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 2)
    regular, extra = match_in(tournament), match_in(tournament)
    guesses(regular, {members[0]: (1, 0), members[1]: (2, 1)})
    guesses(extra, {members[0]: (1, 1), members[1]: (2, 1)})
    with django_capture_on_commit_callbacks(execute=True):
        finish(regular, 1, 0)
        Match.objects.filter(pk=extra.pk).update(home_score_et=2, away_score_et=1)
        finish(extra, 1, 1)
    assert standings(tournament) == {members[0].id: (8, 2, 2), members[1].id: (3, 0, 1)}

    with django_capture_on_commit_callbacks(execute=True):
        change = tournament_scoring_update(tournament_id=tournament.id, changes={"counted_result": "extra_time"})

    assert change.resettled == 1
    assert Match.objects.get(pk=regular.pk).result_version == 1
    # 2-1 after extra time now counts: members[0]'s 1-1 no longer scores, members[1]'s 2-1 is exact.
    assert standings(tournament) == {members[0].id: (4, 1, 1), members[1].id: (7, 1, 2)}
    assert standings_verify(tournament_id=tournament.id) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"points_outcome": 4},  # outcome above goal difference
        {"points_exact": 2},  # exact below goal difference
        {"points_exact": 101},
        {"lock_minutes": -1},
        {"counted_result": "penalties"},
        {"multiplier": 2},  # a round setting, not a tournament one
    ],
)
def test_scoring_that_breaks_the_rules_is_refused_and_changes_nothing(cup, changes):
    tournament, match, _ = cup
    with pytest.raises(ApplicationError) as refused:
        tournament_scoring_update(tournament_id=tournament.id, changes=changes)
    assert refused.value.code == "invalid_scoring"
    fresh = Tournament.objects.get(pk=tournament.pk)
    assert (fresh.points_exact, fresh.points_goal_difference, fresh.points_outcome) == (4, 3, 2)
    assert (fresh.lock_minutes, fresh.counted_result) == (0, "regular")
    assert SettlementRequest.objects.filter(match=match).count() == 1


def test_raising_a_round_multiplier_re_settles_that_round_only(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, len(PICKS))
    group, final = RoundFactory(tournament=tournament), RoundFactory(tournament=tournament)
    in_group, in_final = match_in(tournament, round=group), match_in(tournament, round=final)
    guesses(in_group, dict(zip(members, PICKS)))
    guesses(in_final, dict(zip(members, reversed(PICKS))))
    with django_capture_on_commit_callbacks(execute=True):
        finish(in_group, 2, 1)
        finish(in_final, 2, 1)
    group_before, final_before = round_standings(group), round_standings(final)
    before = _all_standings(tournament, members)

    with django_capture_on_commit_callbacks(execute=True):
        change = round_multiplier_update(round_id=final.id, multiplier=3)

    assert change.resettled == 1
    assert Match.objects.get(pk=in_group.pk).result_version == 1
    assert round_standings(group) == group_before
    assert round_standings(final) == {m: (p * 3, e, o) for m, (p, e, o) in final_before.items()}
    after = _all_standings(tournament, members)
    for member in members:
        final_points = final_before.get(member.id, (0, 0, 0))[0]
        assert after[member.id][0] - before[member.id][0] == 2 * final_points
    assert standings(tournament) == expected_totals([(in_group, (2, 1)), (in_final, (2, 1))])
    assert standings_verify(tournament_id=tournament.id) == []


@pytest.mark.parametrize("multiplier", [0, 11, -1, 2.5, True])
def test_a_multiplier_outside_1_to_10_is_refused(cup, multiplier):
    _, match, _ = cup
    with pytest.raises(ApplicationError) as refused:
        round_multiplier_update(round_id=match.round_id, multiplier=multiplier)
    assert refused.value.code == "invalid_multiplier"
    assert Round.objects.get(pk=match.round_id).multiplier == 1


def test_my_guesses_show_points_at_the_new_settings_once_re_settled(cup, django_capture_on_commit_callbacks):
    tournament, match, members = cup
    exact, outcome = members[0], members[7]  # 2-1 and 4-1 against 2-1
    client_exact, client_outcome = member_client(exact), member_client(outcome)

    def shown(client) -> int | None:
        return client.get(f"/api/v1/me/guesses?tournament={tournament.id}").json()["results"][0]["points"]

    assert (shown(client_exact), shown(client_outcome)) == (4, 2)

    with django_capture_on_commit_callbacks(execute=False) as pending:
        tournament_scoring_update(tournament_id=tournament.id, changes={"points_exact": 6})
    # Until the re-settlement is done the new result version is not settled: no points are shown.
    assert shown(client_exact) is None
    for callback in pending:
        callback()
    assert (shown(client_exact), shown(client_outcome)) == (6, 2)

    with django_capture_on_commit_callbacks(execute=True):
        round_multiplier_update(round_id=match.round_id, multiplier=2)
    assert (shown(client_exact), shown(client_outcome)) == (12, 4)
    assert standings(tournament)[exact.id] == (12, 1, 1)


# --- the admin ---------------------------------------------------------------------


def test_staff_change_points_in_the_admin_and_settled_matches_are_re_settled(
    admin_client, cup, django_capture_on_commit_callbacks
):
    tournament, match, members = cup
    before = _all_standings(tournament, members)
    url = f"/admin/matches/tournament/{tournament.id}/change/"
    assert 'name="points_exact"' in admin_client.get(url).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = submit_change_form(admin_client, url, points_exact=5, name="Renamed cup")

    assert response.status_code == 200
    assert "Scoring changed: 1 match will be re-settled; standings move by the difference." in page_messages(response)
    fresh = Tournament.objects.get(pk=tournament.pk)
    assert (fresh.points_exact, fresh.name) == (5, "Renamed cup")
    after = _all_standings(tournament, members)
    assert sorted(after[m.id][0] - before[m.id][0] for m in members) == [0] * 8 + [1, 1]
    assert standings_verify(tournament_id=tournament.id) == []


def test_staff_change_lock_minutes_in_the_admin_and_nothing_is_re_settled(admin_client, cup):
    tournament, match, _ = cup
    response = submit_change_form(admin_client, f"/admin/matches/tournament/{tournament.id}/change/", lock_minutes=15)
    assert "Scoring changed: no settled match needs re-settling." in page_messages(response)
    assert Tournament.objects.get(pk=tournament.pk).lock_minutes == 15
    assert SettlementRequest.objects.filter(match=match).count() == 1


def test_unordered_points_in_the_admin_show_a_form_error_and_change_nothing(admin_client, cup):
    tournament, match, _ = cup
    response = submit_change_form(
        admin_client, f"/admin/matches/tournament/{tournament.id}/change/", points_outcome=9
    )
    assert "Points must satisfy exact &gt;= goal difference &gt;= outcome." in response.content.decode()
    assert Tournament.objects.get(pk=tournament.pk).points_outcome == 2
    assert SettlementRequest.objects.filter(match=match).count() == 1


def test_staff_change_a_round_multiplier_in_the_round_admin(admin_client, cup, django_capture_on_commit_callbacks):
    tournament, match, members = cup
    url = f"/admin/matches/round/{match.round_id}/change/"
    assert 'name="multiplier"' in admin_client.get(url).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = submit_change_form(admin_client, url, multiplier=2, name="Final")

    assert "Multiplier changed: 1 match will be re-settled; standings move by the difference." in page_messages(
        response
    )
    fresh = Round.objects.get(pk=match.round_id)
    assert (fresh.multiplier, fresh.name, fresh.name_key) == (2, "Final", "final")
    assert standings(tournament) == expected_totals([(match, (2, 1))])
    assert standings(tournament)[members[0].id] == (8, 1, 1)
    assert standings_verify(tournament_id=tournament.id) == []


def test_staff_change_a_round_multiplier_in_the_tournament_page(
    admin_client, cup, django_capture_on_commit_callbacks
):
    tournament, match, members = cup
    url = f"/admin/matches/tournament/{tournament.id}/change/"
    with django_capture_on_commit_callbacks(execute=True):
        response = submit_change_form(admin_client, url, **{"rounds-0-multiplier": 3})

    message = f"Multiplier of {match.round.name} changed: 1 match will be re-settled; standings move by the difference."
    assert message in page_messages(response)
    assert Round.objects.get(pk=match.round_id).multiplier == 3
    assert standings(tournament)[members[0].id] == (12, 1, 1)
    assert standings_verify(tournament_id=tournament.id) == []


# --- concurrency -----------------------------------------------------------------------


def _wait_for_lock_waiter(deadline_seconds: float = 10) -> None:
    """Until another connection waits on a row lock (the second change queued behind the first)."""

    def another_waits() -> bool:
        with connection.cursor() as cursor:
            # Inside a transaction the activity view is a snapshot taken once: drop it to see fresh rows.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            return bool(cursor.fetchone()[0])

    wait_until(another_waits, timeout=deadline_seconds, what="the second change to wait for the first", interval=0.02)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_scoring_changes_apply_one_after_the_other():
    tournament = TournamentFactory()
    members = players(tournament, len(PICKS))
    match = match_in(tournament)
    guesses(match, dict(zip(members, PICKS)))
    finish(match, 2, 1)
    errors: list[BaseException] = []
    results = []

    def second_change() -> None:
        try:
            results.append(
                round_multiplier_update(round_id=match.round_id, multiplier=2),
            )
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    other = threading.Thread(target=second_change)
    with transaction.atomic():
        first = tournament_scoring_update(tournament_id=tournament.id, changes={"points_exact": 6})
        other.start()
        # The second change holds still on the tournament row until this one commits.
        _wait_for_lock_waiter()
        assert not results
    other.join(timeout=30)

    assert not errors and not other.is_alive()
    assert first.resettled == 1 and results[0].resettled == 1
    assert Match.objects.get(pk=match.pk).result_version == 3
    assert standings(tournament) == expected_totals([(match, (2, 1))])
    assert standings(tournament)[members[0].id] == (12, 1, 1)
    assert standings_verify(tournament_id=tournament.id) == []
