"""Sign-in limits hold whatever X-Forwarded-For says, and the admin's login form shares them."""

import pytest
from django.test import Client

from tests.common.api import anonymous_client, assert_error

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def auth_rate(settings):
    def set_rate(rate: str, *, num_proxies: int | None = None):
        rest = {**settings.REST_FRAMEWORK}
        rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], "auth": rate}
        if num_proxies is not None:
            rest["NUM_PROXIES"] = num_proxies
        settings.REST_FRAMEWORK = rest

    return set_rate


def _sign_in(client, forwarded_for: str):
    return client.post(TOKEN, {"username": "x", "password": "y"}, format="json", HTTP_X_FORWARDED_FOR=forwarded_for)


def test_a_forged_x_forwarded_for_does_not_reset_the_sign_in_limit(auth_rate):
    auth_rate("3/min")
    client = anonymous_client()
    for n in range(3):
        assert _sign_in(client, f"203.0.113.{n}").status_code == 401

    response = _sign_in(client, "203.0.113.99")

    assert_error(response, 429, "throttled")


def test_behind_one_proxy_each_client_address_the_proxy_appends_has_its_own_limit(auth_rate):
    auth_rate("3/min", num_proxies=1)
    client = anonymous_client()
    for _ in range(3):
        # The client wrote the first entry itself; the proxy appended the last.
        assert _sign_in(client, "10.9.9.9, 198.51.100.7").status_code == 401

    assert_error(_sign_in(client, "10.0.0.1, 198.51.100.7"), 429, "throttled")
    assert _sign_in(client, "10.9.9.9, 198.51.100.8").status_code == 401


def test_the_admin_login_form_is_limited_like_the_token_endpoint(auth_rate):
    auth_rate("3/min")
    browser = Client()
    assert browser.get(ADMIN_LOGIN).status_code == 200
    for n in range(2):
        response = browser.post(ADMIN_LOGIN, {"username": "admin", "password": f"guess-{n}"}, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        assert response.status_code == 200 and b"Please enter the correct" in response.content
    # The API and the admin draw on one budget per client.
    assert _sign_in(anonymous_client(), "192.0.2.50").status_code == 401

    response = browser.post(ADMIN_LOGIN, {"username": "admin", "password": "guess-3"}, HTTP_X_FORWARDED_FOR="192.0.2.77")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert browser.get(ADMIN_LOGIN).status_code == 200
