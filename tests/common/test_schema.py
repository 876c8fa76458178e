import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db

PATHS = [
    "/api/v1/auth/register",
    "/api/v1/auth/token",
    "/api/v1/auth/token/refresh",
    "/api/v1/auth/logout",
    "/api/v1/me",
    "/api/v1/tournaments",
    "/api/v1/tournaments/{tournament_id}",
    "/api/v1/tournaments/{tournament_id}/join",
    "/api/v1/tournaments/{tournament_id}/matches",
    "/api/v1/matches/{match_id}",
    "/api/v1/matches/{match_id}/guess",
    "/api/v1/matches/{match_id}/guesses",
    "/api/v1/me/guesses",
    "/api/v1/tournaments/{tournament_id}/leagues",
    "/api/v1/leagues/join",
    "/api/v1/me/leagues",
    "/api/v1/leagues/{league_id}",
    "/api/v1/leagues/{league_id}/members/{member_id}",
    "/api/v1/leagues/{league_id}/invite_code",
]


def test_the_schema_is_openapi_3_and_names_the_public_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json() if "json" in response["Content-Type"] else yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    missing = [path for path in PATHS if path not in schema["paths"]]
    assert not missing
    guess = schema["paths"]["/api/v1/matches/{match_id}/guess"]["put"]
    assert {"200", "201", "409"} <= set(guess["responses"])


def test_the_browsable_docs_answer_200(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_the_schema_generates_without_warnings_for_these_views(tmp_path):
    # --fail-on-warn raises on any warning of the generator, e.g. an unresolvable field or enum name collision.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    assert set(PATHS) <= set(schema["paths"])


def _schema(tmp_path) -> dict:
    call_command("spectacular", "--file", str(tmp_path / "schema.yaml"))
    return yaml.safe_load((tmp_path / "schema.yaml").read_text())


# Public board reads run no DRF throttle: it would cost more than the cached read (README "Reads under load").
UNTHROTTLED = {
    "/api/v1/tournaments/{tournament_id}/leaderboard",
    "/api/v1/tournaments/{tournament_id}/members/{member_id}/stats",
    "/api/v1/tournaments/{tournament_id}/members/{member_id}/history",
    "/api/v1/tournaments/{tournament_id}/members/{member_id}/achievements",
    "/api/v1/tournaments/{tournament_id}/achievements",
}


def test_every_operation_lists_its_error_codes_with_the_error_body(tmp_path):
    schema = _schema(tmp_path)
    error = {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "code"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {code: r for code, r in operation["responses"].items() if code.startswith("4")}
            if path.startswith("/api/") and path not in UNTHROTTLED:
                assert "429" in errors, (method, path)
            if path in UNTHROTTLED:
                assert "429" not in errors, (method, path)
            for code, response in errors.items():
                media = response["content"]["application/json"]["schema"]
                expected = {"anyOf": [error, {"$ref": "#/components/schemas/ValidationError"}]} if code == "400" else error
                assert media == expected, (method, path, code)


@pytest.mark.parametrize(
    "method, path, codes",
    [
        ("post", "/api/v1/admin/ingestions", {"400", "401", "403", "404", "409", "429"}),
        ("get", "/api/v1/admin/executions/{execution_id}", {"401", "403", "404", "429"}),
        ("get", "/api/v1/me", {"401", "429"}),
        ("post", "/api/v1/auth/token", {"400", "401", "429"}),
        ("get", "/api/v1/tournaments", {"400", "401", "429"}),
        ("put", "/api/v1/matches/{match_id}/guess", {"400", "401", "404", "409", "429"}),
    ],
)
def test_error_codes_follow_from_the_view_and_the_operation(tmp_path, method, path, codes):
    responses = _schema(tmp_path)["paths"][path][method]["responses"]
    assert {code for code in responses if code.startswith("4")} == codes
