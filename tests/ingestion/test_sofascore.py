"""SofaScore event JSON, served over HTTP by a real local server or read from a file."""

import copy

import pytest

from apps.ingestion.models import Execution
from apps.ingestion.services import ingestion_run
from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match, Round, Team, Tournament

from .conftest import PAYLOADS, Answer, payload

pytestmark = pytest.mark.django_db

PATH = "/api/v1/unique-tournament/16/season/41087/events"


def _ingest(source, slug="wc"):
    return ingestion_run(provider="sofascore", source=source, tournament_slug=slug)


def test_the_recorded_events_create_the_tournament_over_http(http_server):
    url = http_server.script(PATH, payload("sofascore-wc-2022.json"))

    execution = _ingest(url)

    assert execution.status == Execution.Status.COMPLETED, execution.error
    tournament = Tournament.objects.get(slug="wc")
    assert tournament.name == "World Cup 2022"
    assert Match.objects.filter(tournament=tournament).count() == 64
    assert Team.objects.filter(tournament=tournament).count() == 32
    assert {"Matchday 1", "Matchday 3", "Round of 16", "Quarterfinals", "Final"} <= set(
        Round.objects.values_list("name", flat=True)
    )
    final = Match.objects.get(home_team__name="Argentina", away_team__name="France")
    assert (final.home_score, final.away_score, final.home_score_et, final.away_score_et) == (2, 2, 3, 3)
    assert (final.home_penalties, final.away_penalties) == (4, 2)
    # An after-penalties event without normaltime: current less the extra-time goals.
    japan = Match.objects.get(home_team__name="Japan", away_team__name="Croatia")
    assert (japan.home_score, japan.away_score, japan.home_score_et, japan.home_penalties) == (1, 1, 1, 1)


def test_the_same_events_twice_report_zero_changes_and_one_edited_result_one_request(http_server):
    recorded = payload("sofascore-wc-2022.json")
    url = http_server.script(PATH, recorded)
    _ingest(url)
    before = SettlementRequest.objects.count()

    assert _ingest(url).report["changes"] == 0
    assert SettlementRequest.objects.count() == before

    edited = copy.deepcopy(recorded)
    edited["events"][3]["homeScore"].update(current=5, display=5, normaltime=5)
    http_server.script(PATH, edited)
    execution = _ingest(url)

    match = Match.objects.get(external_id=str(edited["events"][3]["id"]))
    assert (match.home_score, match.result_version) == (5, 2)
    assert execution.report["changes"] == 1
    assert SettlementRequest.objects.count() == before + 1


def test_event_statuses_map_to_ours_from_a_plain_list_in_a_file():
    execution = _ingest(str(PAYLOADS / "sofascore-statuses.json"), slug="wc26")

    assert execution.status == Execution.Status.COMPLETED, execution.error
    statuses = dict(Match.objects.values_list("external_id", "status"))
    assert statuses == {
        "13981701": "scheduled",
        "13981702": "live",
        "13981703": "finished",
        "13981704": "postponed",
        "13981705": "cancelled",
        "13981706": "abandoned",
    }
    live = Match.objects.get(external_id="13981702")
    assert (live.home_score, live.away_score) == (1, 0)
    # The final result settles, and the score in play provisionally.
    assert sorted(SettlementRequest.objects.values_list("match__external_id", flat=True)) == ["13981702", "13981703"]
    assert Tournament.objects.get(slug="wc26").status == "running"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>blocked</html>", "is not valid JSON"),
        (b'{"events": {"id": 1}}', "expected a list of events"),
        (b'[{"id": 9, "status": {"type": "finished", "code": 100}, "startTimestamp": "soon"}]', "startTimestamp"),
        (
            b'[{"id": 9, "status": {"type": "finished", "code": 100}, "startTimestamp": 1, '
            b'"homeTeam": {"name": "A"}, "awayTeam": {"name": "B"}, "homeScore": {"normaltime": 1}, "awayScore": {}}]',
            "only one side",
        ),
    ],
)
def test_a_malformed_payload_fails_its_execution_and_writes_nothing(http_server, body, reason):
    url = http_server.script(PATH, Answer(200, body))

    execution = _ingest(url)

    assert execution.status == Execution.Status.FAILED
    assert reason in execution.error
    assert not Tournament.objects.exists() and not Match.objects.exists()
