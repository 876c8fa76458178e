import pytest

from apps.members.models import Member
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"


def _tokens(username: str, password: str = PASSWORD) -> dict:
    response = anonymous_client().post(TOKEN, {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_registration_creates_a_member_who_can_sign_in():
    response = anonymous_client().post(
        REGISTER,
        {"username": "ada", "password": "analytical-engine-1843", "display_name": "Ada L.", "email": "ada@example.org"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "display_name"}
    assert body["username"] == "ada" and body["display_name"] == "Ada L."
    assert Member.objects.get(pk=body["id"]).check_password("analytical-engine-1843")
    assert set(_tokens("ada", "analytical-engine-1843")) == {"access", "refresh"}


def test_registration_without_display_name_shows_the_username():
    body = {"username": "grace", "password": "cobol-compiler-1959"}
    response = anonymous_client().post(REGISTER, body, format="json")
    assert response.status_code == 201
    assert response.json()["display_name"] == "grace"


def test_registration_with_a_taken_username_answers_a_field_map():
    MemberFactory(username="taken")
    body = {"username": "taken", "password": "another-long-pass-99"}
    response = anonymous_client().post(REGISTER, body, format="json")
    assert response.status_code == 400
    assert "username" in response.json()


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "weakling"])
def test_registration_with_a_weak_password_answers_a_field_map(password):
    response = anonymous_client().post(REGISTER, {"username": "weakling", "password": password}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()
    assert not Member.objects.filter(username="weakling").exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x"},
        {"password": "long-enough-pass"},
        {"username": "bad name!", "password": "long-enough-pass"},
    ],
)
def test_registration_with_missing_or_malformed_fields_answers_a_field_map(body):
    response = anonymous_client().post(REGISTER, body, format="json")
    assert response.status_code == 400
    assert isinstance(response.json(), dict) and "detail" not in response.json()


def test_malformed_json_body_answers_400_not_500():
    response = anonymous_client().post(REGISTER, data="{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_a_json_list_body_answers_a_field_map():
    response = anonymous_client().post(REGISTER, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_token_with_bad_credentials_answers_401():
    MemberFactory(username="bob")
    response = anonymous_client().post(TOKEN, {"username": "bob", "password": "wrong-password"}, format="json")
    assert_error(response, 401, "invalid_credentials")
    assert response.has_header("WWW-Authenticate")


def test_token_for_an_unknown_username_answers_401():
    response = anonymous_client().post(TOKEN, {"username": "nobody", "password": "whatever-it-is"}, format="json")
    assert_error(response, 401, "invalid_credentials")


def test_token_ignores_a_stale_authorization_header():
    member = MemberFactory()
    client = anonymous_client()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = client.post(TOKEN, {"username": member.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200


def test_refresh_rotates_and_blacklists_the_old_refresh_token():
    member = MemberFactory()
    first = _tokens(member.username)
    response = anonymous_client().post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"access", "refresh"} and second["refresh"] != first["refresh"]

    replay = anonymous_client().post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert_error(replay, 401, "token_not_valid")
    assert anonymous_client().post(REFRESH, {"refresh": second["refresh"]}, format="json").status_code == 200


def test_refresh_with_a_forged_token_answers_401():
    response = anonymous_client().post(REFRESH, {"refresh": "forged.token.value"}, format="json")
    assert_error(response, 401, "token_not_valid")


def test_logout_blacklists_the_refresh_token():
    member = MemberFactory()
    tokens = _tokens(member.username)
    response = anonymous_client().post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 205
    replay = anonymous_client().post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert_error(replay, 401, "token_not_valid")


@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": "garbage"}])
def test_logout_without_a_valid_refresh_token_answers_400(body):
    response = anonymous_client().post(LOGOUT, body, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()


def test_logout_twice_answers_400_the_second_time():
    tokens = _tokens(MemberFactory().username)
    assert anonymous_client().post(LOGOUT, {"refresh": tokens["refresh"]}, format="json").status_code == 205
    assert anonymous_client().post(LOGOUT, {"refresh": tokens["refresh"]}, format="json").status_code == 400


def test_me_needs_a_token():
    assert_error(anonymous_client().get(ME), 401, "not_authenticated")


def test_me_with_a_forged_token_answers_401():
    client = anonymous_client()
    client.credentials(HTTP_AUTHORIZATION="Bearer forged.token.value")
    assert_error(client.get(ME), 401, "token_not_valid")


def test_me_with_an_access_token_from_sign_in_shows_the_member():
    member = MemberFactory(display_name="Zed")
    client = anonymous_client()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_tokens(member.username)['access']}")
    response = client.get(ME)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "username", "display_name", "date_joined"}
    assert body["id"] == member.id and body["display_name"] == "Zed"


def test_me_patch_changes_the_display_name_only():
    member = MemberFactory(username="keepme")
    response = member_client(member).patch(ME, {"display_name": "  New Name ", "username": "hijack"}, format="json")
    assert response.status_code == 200
    assert response.json()["display_name"] == "New Name"
    member.refresh_from_db()
    assert (member.username, member.display_name) == ("keepme", "New Name")


@pytest.mark.parametrize("display_name", ["", "   ", "x" * 65, None])
def test_me_patch_rejects_a_blank_or_too_long_display_name(display_name):
    response = member_client(MemberFactory()).patch(ME, {"display_name": display_name}, format="json")
    assert response.status_code == 400
    assert "display_name" in response.json()


def test_auth_endpoints_answer_429_with_retry_after_over_the_rate(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "3/min"},
    }
    client = anonymous_client()
    for _ in range(3):
        assert client.post(TOKEN, {"username": "x", "password": "y"}, format="json").status_code == 401
    response = client.post(TOKEN, {"username": "x", "password": "y"}, format="json")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
