from datetime import timedelta

import pytest
from django.utils import timezone

from apps.common.models import AuditEntry
from apps.leaderboards.models import QuestionSettlementRequest, SettlementRequest, Standing
from apps.matches.models import BonusAnswer, BonusQuestion, Match, Participation, Round, Team
from tests.factories import MatchFactory, MemberFactory, RoundFactory, TournamentFactory

from .admin_forms import change_form_data

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["tournament", "round", "team", "match", "participation"])
def test_match_changelists_and_add_pages_render(admin_client, model):
    MatchFactory()
    assert admin_client.get(f"/admin/matches/{model}/").status_code == 200
    assert admin_client.get(f"/admin/matches/{model}/add/").status_code == 200


def test_match_changelist_reads_a_page_in_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries):
    tournament = TournamentFactory()
    for _ in range(10):
        MatchFactory(tournament=tournament)
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/matches/match/")
    assert response.status_code == 200


def test_staff_add_a_team_and_its_folded_name_is_set(admin_client):
    tournament = TournamentFactory()
    response = admin_client.post(
        "/admin/matches/team/add/", {"tournament": tournament.id, "name": "Curaçao", "code": "CUW"}
    )
    assert response.status_code == 302
    assert Team.objects.get(tournament=tournament).name_key == "curacao"


def test_staff_add_a_round_and_its_folded_name_is_set(admin_client):
    tournament = TournamentFactory()
    response = admin_client.post(
        "/admin/matches/round/add/", {"tournament": tournament.id, "name": "Final", "order": 7, "multiplier": 2}
    )
    assert response.status_code == 302
    assert Round.objects.get(tournament=tournament).name_key == "final"


def test_a_match_result_is_editable_in_the_admin_but_its_version_is_not(admin_client):
    match = MatchFactory()
    html = admin_client.get(f"/admin/matches/match/{match.id}/change/").content.decode()
    assert 'name="home_score"' in html and 'name="status"' in html
    assert 'name="kickoff_at_0"' in html
    assert 'name="result_version"' not in html


def test_scoring_settings_stay_editable_once_a_match_of_the_tournament_is_settled(admin_client):
    match = MatchFactory()
    url = f"/admin/matches/tournament/{match.tournament_id}/change/"
    SettlementRequest.objects.create(match=match, result_version=1, idempotency_key=f"settlement:{match.id}:1")
    html = admin_client.get(url).content.decode()
    assert 'name="points_exact"' in html and 'name="rounds-0-multiplier"' in html
    assert "re-settles every settled match" in html


def test_member_foreign_keys_use_autocomplete_not_a_select_of_every_member(admin_client):
    members = MemberFactory.create_batch(20)
    html = admin_client.get("/admin/matches/participation/add/").content.decode()
    assert "admin-autocomplete" in html
    assert not any(member.username in html for member in members)


def test_staff_add_a_participant_and_a_standing_opens(admin_client):
    tournament, member = TournamentFactory(), MemberFactory()
    response = admin_client.post(
        "/admin/matches/participation/add/", {"tournament": tournament.id, "member": member.id}
    )
    assert response.status_code == 302
    assert Participation.objects.filter(tournament=tournament, member=member).exists()
    assert Standing.objects.filter(tournament=tournament, member=member).exists()


def test_round_multiplier_stays_editable_once_a_match_of_the_round_is_settled(admin_client):
    rnd = RoundFactory()
    match = MatchFactory(tournament=rnd.tournament, round=rnd, status=Match.Status.FINISHED)
    SettlementRequest.objects.create(match=match, result_version=1, idempotency_key=f"settlement:{match.id}:1")
    assert 'name="multiplier"' in admin_client.get(f"/admin/matches/round/{rnd.id}/change/").content.decode()


def test_staff_ask_and_settle_a_bonus_question_in_the_admin_with_audit_entries(
    admin_client, django_capture_on_commit_callbacks
):
    tournament = TournamentFactory()
    fan = MemberFactory()
    later = timezone.now() + timedelta(hours=1)
    response = admin_client.post(
        "/admin/matches/bonusquestion/add/",
        {"tournament": tournament.id, "text": "Goals?", "kind": "number", "points": 7, "answered_by": "staff",
         "closes_at_0": later.strftime("%Y-%m-%d"), "closes_at_1": later.strftime("%H:%M:%S")},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    question = BonusQuestion.objects.get(tournament=tournament)
    assert AuditEntry.objects.filter(action="question_changed", target_id=str(question.id)).exists()
    BonusAnswer.objects.create(question=question, member=fan, number=4)
    url = f"/admin/matches/bonusquestion/{question.id}/change/"

    # Open: the correct answer is refused on the page; nothing is settled.
    refused = admin_client.post(url, change_form_data(admin_client, url, correct_number="4"))
    assert refused.status_code == 200 and "only once it has closed" in refused.content.decode()
    assert not QuestionSettlementRequest.objects.exists()

    BonusQuestion.objects.filter(pk=question.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        saved = admin_client.post(url, change_form_data(admin_client, url, correct_number="4"))
    assert saved.status_code == 302
    assert Standing.objects.get(tournament=tournament, member=fan).points == 7
    assert AuditEntry.objects.filter(action="question_settled", target_id=str(question.id)).count() == 1
    # Settled: it can no longer be deleted, only un-settled.
    assert admin_client.get(f"/admin/matches/bonusquestion/{question.id}/delete/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/matches/bonusquestion/", {"action": "unsettle", "_selected_action": [question.id]}
        )
    assert Standing.objects.get(tournament=tournament, member=fan).points == 0
