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


@pytest.mark.parametrize("debug", [True, False], ids=["debug-on", "debug-off"])
@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/nothing", "/api/v1/matches/abc/guess"])
def test_an_unknown_api_path_answers_the_json_404_whether_debug_is_on_or_off(settings, debug, path):
    settings.DEBUG = debug
    response = anonymous_client().get(path)
    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "not_found")


def test_with_debug_on_a_path_outside_the_api_keeps_django_s_page(settings):
    settings.DEBUG = True
    response = anonymous_client().get("/no-such-page")
    assert response.status_code == 404 and "json" not in response["Content-Type"]


def test_a_json_404_of_an_api_view_passes_unchanged():
    body = assert_error(anonymous_client().get("/api/v1/tournaments/999999"), 404)
    assert body["code"] != "" and body["detail"] != "Nothing is found at this address."
