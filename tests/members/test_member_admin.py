import pytest

from apps.members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_member_changelist_searches_by_username_and_shows_display_names(admin_client):
    MemberFactory(username="findme", display_name="Found Me")
    MemberFactory(username="other")
    response = admin_client.get("/admin/members/member/?q=findme")
    assert response.status_code == 200
    assert b"Found Me" in response.content and b"other" not in response.content


def test_staff_create_a_member_with_a_display_name(admin_client):
    response = admin_client.post(
        "/admin/members/member/add/",
        {
            "username": "newbie",
            "display_name": "New Bie",
            "email": "",
            "password1": "a-long-enough-password",
            "password2": "a-long-enough-password",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    member = Member.objects.get(username="newbie")
    assert member.display_name == "New Bie" and member.check_password("a-long-enough-password")


def test_member_change_page_shows_the_display_name(admin_client):
    member = MemberFactory(display_name="Shown Name")
    response = admin_client.get(f"/admin/members/member/{member.id}/change/")
    assert response.status_code == 200
    assert b'name="display_name"' in response.content and b"Shown Name" in response.content


def test_a_member_created_by_staff_is_found_by_the_board_search_keys(admin_client):
    admin_client.post(
        "/admin/members/member/add/",
        {
            "username": "Zoé",
            "display_name": "Zoé Ærø",
            "email": "",
            "password1": "a-long-enough-password",
            "password2": "a-long-enough-password",
            "usable_password": "true",
        },
    )
    member = Member.objects.get(username="Zoé")
    assert (member.display_name_key, member.username_key) == ("zoe ærø", "zoe")


def test_staff_see_and_add_pins(admin_client):
    from apps.members.models import Pin

    member, friend = MemberFactory(username="pinner"), MemberFactory(username="pinned")
    Pin.objects.create(member=member, pinned=friend)
    response = admin_client.get("/admin/members/pin/")
    assert response.status_code == 200 and b"pinner" in response.content.lower()
    assert admin_client.get("/admin/members/pin/add/").status_code == 200
