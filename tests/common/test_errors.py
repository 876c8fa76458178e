import pytest

from tests.common.api import anonymous_client, assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/matches/abc", "/api/v1/nothing-here", "/api/v1/leagues/x/members/y"])
def test_an_api_path_that_matches_no_route_answers_404_in_the_api_shape(path):
    assert_error(anonymous_client().get(path), 404, "not_found")


def test_a_path_outside_the_api_keeps_the_html_404():
    response = anonymous_client().get("/no-such-page")
    assert response.status_code == 404
    assert "json" not in response["Content-Type"]


def test_an_unsupported_method_answers_405_in_the_api_shape():
    assert_error(anonymous_client().delete("/api/v1/tournaments"), 405, "method_not_allowed")
