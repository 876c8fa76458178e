import pytest

from apps.leagues.models import League, LeagueMembership
from apps.leagues.services import league_create, league_join
from apps.matches.models import Participation
from tests.factories import MemberFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def _league(members: int = 2):
    owner = MemberFactory()
    league = league_create(tournament_id=TournamentFactory().id, owner_id=owner.id, name="Admins' pick")
    others = MemberFactory.create_batch(members - 1)
    for member in others:
        league_join(member_id=member.id, invite_code=league.invite_code)
    return league, owner, others


def test_league_changelist_shows_member_counts(admin_client):
    league, _, _ = _league(members=3)
    response = admin_client.get("/admin/leagues/league/")
    assert response.status_code == 200
    assert league.invite_code.encode() in response.content
    assert b'<td class="field-members">3</td>' in response.content


def test_leagues_are_not_added_in_the_admin(admin_client):
    assert admin_client.get("/admin/leagues/league/add/").status_code == 403


def test_staff_rotate_a_leaked_invite_code(admin_client):
    league, _, _ = _league()
    response = admin_client.post(
        "/admin/leagues/league/", {"action": "rotate_invite_codes", "_selected_action": [league.id]}
    )
    assert response.status_code == 302
    league_code = League.objects.get(pk=league.pk).invite_code
    assert league_code != league.invite_code and len(league_code) >= 10


def test_membership_pages_render_with_autocomplete_for_members(admin_client):
    _league()
    assert admin_client.get("/admin/leagues/leaguemembership/").status_code == 200
    html = admin_client.get("/admin/leagues/leaguemembership/add/").content.decode()
    assert html.count("admin-autocomplete") >= 2


def test_staff_add_a_member_to_a_league_and_to_its_tournament(admin_client):
    league, _, _ = _league()
    newcomer = MemberFactory()
    response = admin_client.post(
        "/admin/leagues/leaguemembership/add/", {"league": league.id, "member": newcomer.id}
    )
    assert response.status_code == 302
    assert LeagueMembership.objects.filter(league=league, member=newcomer).exists()
    assert Participation.objects.filter(tournament_id=league.tournament_id, member=newcomer).exists()


def test_removing_the_owner_in_the_admin_hands_the_league_on(admin_client):
    league, owner, (friend,) = _league(members=2)
    membership = LeagueMembership.objects.get(league=league, member=owner)
    response = admin_client.post(f"/admin/leagues/leaguemembership/{membership.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert League.objects.get(pk=league.pk).owner_id == friend.id
