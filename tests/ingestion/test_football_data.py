"""football-data.org v4 over HTTP: recorded payloads served by a real local server."""

import copy

import pytest

from apps.ingestion import sources
from apps.ingestion.models import Execution
from apps.ingestion.services import ingestion_run
from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match, Round, Team, Tournament

from .conftest import WORLD_CUP_2022, Answer, payload

pytestmark = pytest.mark.django_db

PATH = "/v4/competitions/WC/matches"


@pytest.fixture
def football_data(settings, http_server, fast_http):
    settings.FOOTBALL_DATA_BASE_URL = http_server.base_url
    settings.FOOTBALL_DATA_TOKEN = "test-token"
    return http_server


@pytest.fixture
def waits(monkeypatch):
    """The waits the client asked for, recorded instead of slept."""
    recorded = []
    monkeypatch.setattr(sources, "sleep", recorded.append)
    return recorded


def _ingest(slug="wc", source="WC", **kwargs):
    return ingestion_run(provider="football-data", source=source, tournament_slug=slug, **kwargs)


def test_the_recorded_world_cup_payload_creates_its_matches_teams_and_rounds(football_data):
    football_data.script(PATH, payload("football-data-wc-2022.json"))

    execution = _ingest()

    assert execution.status == Execution.Status.COMPLETED, execution.error
    assert football_data.requests[0]["headers"]["X-Auth-Token"] == "test-token"
    tournament = Tournament.objects.get(slug="wc")
    assert tournament.name == "FIFA World Cup 2022"
    assert Match.objects.filter(tournament=tournament).count() == 64
    assert Team.objects.filter(tournament=tournament).count() == 32
    assert set(Round.objects.values_list("name", flat=True)) == {
        "Matchday 1", "Matchday 2", "Matchday 3", "Round of 16", "Quarter-finals", "Semi-finals",
        "Match for third place", "Final",
    }
    assert Team.objects.get(name="Qatar").code == "QAT"


def test_scores_take_regular_time_and_keep_extra_time_and_penalties_apart(football_data):
    football_data.script(PATH, payload("football-data-wc-2022.json"))
    _ingest()

    final = Match.objects.get(external_id="391944")
    assert (final.home_score, final.away_score) == (2, 2)
    assert (final.home_score_et, final.away_score_et) == (3, 3)
    assert (final.home_penalties, final.away_penalties) == (4, 2)
    # Without regularTime, fullTime (1+0+3 - 1+0+1) less extra time and penalties.
    japan = Match.objects.get(home_team__name="Japan", away_team__name="Croatia")
    assert (japan.home_score, japan.away_score, japan.home_score_et, japan.home_penalties) == (1, 1, 1, 1)


def test_the_same_payload_twice_reports_zero_changes_and_one_edited_result_one_request(football_data):
    recorded = payload("football-data-wc-2022.json")
    football_data.script(PATH, recorded)
    _ingest()
    before = SettlementRequest.objects.count()

    assert _ingest().report["changes"] == 0
    assert SettlementRequest.objects.count() == before

    edited = copy.deepcopy(recorded)
    edited["matches"][0]["score"]["fullTime"] = {"home": 1, "away": 2}
    football_data.script(PATH, edited)
    execution = _ingest()

    opener = Match.objects.get(external_id=str(recorded["matches"][0]["id"]))
    assert (opener.home_score, opener.away_score, opener.result_version) == (1, 2, 2)
    assert execution.report["changes"] == 1
    assert SettlementRequest.objects.count() == before + 1
    assert SettlementRequest.objects.filter(match=opener, result_version=2, kind="settle").exists()


def test_statuses_map_to_ours_and_only_scores_in_play_or_final_settle(football_data):
    football_data.script(PATH, payload("football-data-statuses.json"))

    execution = _ingest(slug="wc26")

    assert execution.status == Execution.Status.COMPLETED, execution.error
    by_id = {m.external_id: m for m in Match.objects.all()}
    assert {k: m.status for k, m in by_id.items()} == {
        "537327": "scheduled",
        "537328": "scheduled",
        "537329": "live",
        "537330": "live",
        "537331": "finished",
        "537332": "abandoned",
        "537333": "postponed",
        "537334": "cancelled",
        "537335": "finished",
    }
    assert (by_id["537329"].home_score, by_id["537329"].away_score) == (1, 0)
    assert by_id["537327"].home_score is None
    assert execution.report["matches"]["skipped"] == 1  # the final, teams not known yet
    # Finished results settle, and so do scores in play (provisionally); nothing else does.
    scored = sorted(k for k, m in by_id.items() if m.status in ("live", "finished") and m.home_score is not None)
    assert "537329" in scored and "537331" in scored
    assert sorted(SettlementRequest.objects.values_list("match__external_id", flat=True)) == scored


def test_a_competition_season_is_asked_for_when_configured(football_data):
    football_data.script(PATH, payload("football-data-wc-2022.json"))
    _ingest(options={"season": 2022})
    assert football_data.requests[0]["query"] == "season=2022"


def test_server_errors_are_retried_with_backoff(football_data, waits):
    football_data.script(PATH, Answer(503), Answer(502), payload("football-data-wc-2022.json"))

    execution = _ingest()

    assert execution.status == Execution.Status.COMPLETED, execution.error
    assert len(football_data.requests) == 3
    assert waits == [0.01, 0.02]


def test_a_429_waits_as_long_as_the_counter_reset_header_says(football_data, waits):
    football_data.script(
        PATH,
        Answer(429, b'{"message": "too many"}', {"X-Requests-Available-Minute": "0", "X-RequestCounter-Reset": "7"}),
        payload("football-data-wc-2022.json"),
    )

    execution = _ingest()

    assert execution.status == Execution.Status.COMPLETED, execution.error
    assert 7.0 in waits and len(football_data.requests) == 2


def test_an_exhausted_quota_makes_the_next_run_wait_for_the_reset(football_data, waits):
    recorded = payload("football-data-wc-2022.json")
    football_data.script(
        PATH,
        Answer(200, sources.json.dumps(recorded).encode(), {"X-Requests-Available-Minute": "0", "X-RequestCounter-Reset": "20"}),
    )
    _ingest()
    assert waits == []

    _ingest()

    assert len(waits) == 1 and 18 < waits[0] <= 20


def test_a_quota_reset_beyond_the_allowed_wait_fails_without_calling(football_data, waits, settings):
    settings.INGESTION_RATE_LIMIT_MAX_WAIT = 5
    football_data.script(PATH, Answer(429, b"{}", {"X-RequestCounter-Reset": "50"}))

    execution = _ingest()

    assert execution.status == Execution.Status.FAILED
    assert "rate limit reached; the next request is allowed in 51 s" in execution.error
    assert len(football_data.requests) == 1 and waits == []


def test_a_rejected_token_fails_at_once_with_the_providers_message(football_data):
    football_data.script(PATH, Answer(403, b'{"message": "The resource you are looking for is restricted."}'))

    execution = _ingest()

    assert execution.status == Execution.Status.FAILED
    assert "HTTP 403" in execution.error and "restricted" in execution.error
    assert len(football_data.requests) == 1


@pytest.fixture
def ingested(football_data):
    football_data.script(PATH, payload("football-data-wc-2022.json"))
    assert _ingest().status == Execution.Status.COMPLETED
    return list(Match.objects.order_by("id").values())


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(hang=True), "timed out after 0.3 s (3 attempts)"),
        (Answer(500, b'{"error": "internal"}'), "answered HTTP 500 (3 attempts)"),
        (Answer(200, b'{"matches": [{"id": 1, "status": "FINISHED", '), "is not valid JSON"),
        (Answer(200, b'{"matches": [{"id": 7, "status": "HALF_BAKED"}]}'), "unknown status 'HALF_BAKED'"),
    ],
)
def test_a_failing_provider_leaves_a_failed_execution_with_its_reason_and_no_writes(ingested, football_data, answer, reason):
    football_data.script(PATH, answer)

    execution = _ingest()

    assert execution.status == Execution.Status.FAILED
    assert reason in execution.error
    assert execution.report["error"] == execution.error
    assert execution.finished_at is not None
    assert list(Match.objects.order_by("id").values()) == ingested


def test_plain_http_to_another_host_is_refused(football_data):
    execution = _ingest(source="http://example.com/v4/competitions/WC/matches")
    assert execution.status == Execution.Status.FAILED
    assert "Refusing plain HTTP to example.com" in execution.error


def test_a_second_provider_reuses_teams_whatever_their_case_and_accents(football_data):
    ingestion_run(provider="openfootball", source=str(WORLD_CUP_2022), tournament_slug="wc", options={"time_zone": "Asia/Qatar"})
    recorded = payload("football-data-wc-2022.json")
    for match in recorded["matches"]:
        for side in ("homeTeam", "awayTeam"):
            if match[side]["name"] == "Mexico":
                match[side]["name"] = "MÉXICO"
            if match[side]["name"] == "Saudi Arabia":
                match[side]["name"] = "saudi arabia"
    football_data.script(PATH, recorded)

    execution = _ingest()

    assert execution.status == Execution.Status.COMPLETED, execution.error
    assert Team.objects.filter(tournament__slug="wc").count() == 32
    assert Match.objects.filter(tournament__slug="wc").count() == 64
    assert execution.report["matches"]["adopted"] == 64
    assert set(Match.objects.values_list("provider", flat=True)) == {"football-data"}
