import pytest

from tests.factories import GuessFactory

pytestmark = pytest.mark.django_db


def test_guesses_are_listed_and_viewable_but_not_editable(admin_client):
    guess = GuessFactory(home_goals=4, away_goals=2)
    listing = admin_client.get("/admin/guesses/guess/")
    assert listing.status_code == 200 and guess.member.display_name.encode() in listing.content
    page = admin_client.get(f"/admin/guesses/guess/{guess.id}/change/").content.decode()
    assert 'name="home_goals"' not in page
    assert admin_client.get("/admin/guesses/guess/add/").status_code == 403
    assert admin_client.post(f"/admin/guesses/guess/{guess.id}/delete/", {"post": "yes"}).status_code == 403


def test_guess_changelist_reads_a_page_in_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries):
    for _ in range(10):
        GuessFactory()
    with django_assert_max_num_queries(10):
        assert admin_client.get("/admin/guesses/guess/").status_code == 200
