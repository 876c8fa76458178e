"""API clients for tests: anonymous, or carrying a real access token of a member."""

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken


def anonymous_client() -> APIClient:
    return APIClient()


def member_client(member) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(member).access_token}")
    return client


def assert_error(response, status_code: int, code: str | None = None) -> dict:
    """The response is a non-validation error of the shared shape {detail, code}."""
    assert response.status_code == status_code, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body
