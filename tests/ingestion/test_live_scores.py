"""A match in play, poll by poll: what football-data.org and SofaScore payloads put on the match.

The payloads under payloads/live/ follow the 2022 final through one poll per
moment (first half, half time, second half, extra time with only a running
score, extra time with its periods, the shoot-out, the final whistle). They
are built from the recorded final of each provider, in the shape each
provider gives a match in play.
"""

import json

import pytest

from apps.common.audit import Action
from apps.common.models import AuditEntry
from apps.ingestion.models import Execution
from apps.ingestion.providers.sofascore import sofascore_parse
from apps.ingestion.services import ingestion_run
from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match

from .conftest import PAYLOADS

pytestmark = pytest.mark.django_db

FOOTBALL_DATA_PATH = "/v4/competitions/WC/matches"
MOMENTS = (
    "1-first-half",
    "2-half-time",
    "3-second-half",
    "4-extra-time-running",
    "5-extra-time-with-periods",
    "6-penalties",
    "7-finished",
)
# (status, regular, extra time, penalties) after each moment: the regular-time
# score runs until 90 minutes and then holds, extra-time goals go to the
# extra-time score only, shoot-out goals never count as goals.
EXPECTED = [
    ("live", (1, 0), (None, None), (None, None)),
    ("live", (2, 0), (None, None), (None, None)),
    ("live", (2, 2), (None, None), (None, None)),
    ("live", (2, 2), (3, 2), (None, None)),
    ("live", (2, 2), (3, 3), (None, None)),
    ("live", (2, 2), (3, 3), (2, 1)),
    ("finished", (2, 2), (3, 3), (4, 2)),
]


def _recorded(provider: str, moment: str) -> dict:
    return json.loads((PAYLOADS / "live" / f"{provider}-final-{moment}.json").read_text(encoding="utf-8"))


@pytest.fixture
def poll(settings, http_server, fast_http):
    """poll(provider, moment): one results run of the provider answering that moment's payload."""
    settings.FOOTBALL_DATA_BASE_URL = http_server.base_url

    def run(provider: str, moment: str) -> Execution:
        if provider == "football-data":
            http_server.script(FOOTBALL_DATA_PATH, _recorded(provider, moment))
            source = "WC"
        else:
            source = str(PAYLOADS / "live" / f"{provider}-final-{moment}.json")
        execution = ingestion_run(provider=provider, source=source, tournament_slug="wc", operation="full")
        assert execution.status == Execution.Status.COMPLETED, execution.error
        return execution

    return run


def _state(match: Match) -> tuple:
    return (
        match.status,
        (match.home_score, match.away_score),
        (match.home_score_et, match.away_score_et),
        (match.home_penalties, match.away_penalties),
    )


def _result_audits() -> int:
    return AuditEntry.objects.filter(action=Action.RESULT_CHANGED).count()


@pytest.mark.parametrize("provider", ["football-data", "sofascore"])
def test_a_match_in_play_holds_its_running_regular_score_and_keeps_extra_time_apart(poll, provider):
    seen, versions, requests, audits = [], [], [], []
    for moment in MOMENTS:
        poll(provider, moment)
        match = Match.objects.get()
        seen.append(_state(match))
        versions.append(match.result_version)
        requests.append(SettlementRequest.objects.filter(match=match).count())
        audits.append(_result_audits())

    assert seen == EXPECTED
    # Each change of the counted score in play settles provisionally; under "regular" the extra-time
    # goals and the shoot-out move nothing; the final whistle settles the final result.
    assert versions == [1, 2, 3, 3, 3, 3, 4]
    assert requests == [1, 2, 3, 3, 3, 3, 4]
    assert audits == [1, 2, 3, 3, 3, 3, 4]


@pytest.mark.parametrize("provider", ["football-data", "sofascore"])
def test_a_running_extra_time_score_without_the_regular_one_keeps_the_score_recorded_at_90_minutes(poll, provider):
    poll(provider, "3-second-half")
    poll(provider, "4-extra-time-running")

    match = Match.objects.get()
    assert _state(match) == ("live", (2, 2), (3, 2), (None, None))


def test_extra_time_seen_first_leaves_the_regular_score_unknown_rather_than_counting_extra_time_goals(poll):
    poll("football-data", "4-extra-time-running")

    assert _state(Match.objects.get()) == ("live", (None, None), (3, 2), (None, None))


@pytest.mark.parametrize("provider", ["football-data", "sofascore"])
@pytest.mark.parametrize("moment", ["2-half-time", "4-extra-time-running", "6-penalties", "7-finished"])
def test_a_poll_that_changes_nothing_writes_nothing(poll, provider, moment):
    poll(provider, "3-second-half")
    poll(provider, moment)
    before = Match.objects.values().get()
    audits, requests = _result_audits(), SettlementRequest.objects.count()

    again = poll(provider, moment)

    assert again.report["changes"] == 0
    assert again.report["matches"]["unchanged"] == 1
    # updated_at included: the row was not saved at all.
    assert Match.objects.values().get() == before
    assert (_result_audits(), SettlementRequest.objects.count()) == (audits, requests)


def test_a_goal_in_play_is_one_save_one_version_and_one_settlement_request(poll):
    poll("football-data", "1-first-half")
    first = Match.objects.get()

    execution = poll("football-data", "2-half-time")

    match = Match.objects.get()
    assert execution.report["matches"]["updated"] == 1
    assert (match.home_score, match.away_score) == (2, 0)
    assert match.updated_at > first.updated_at
    assert (first.result_version, match.result_version) == (1, 2)
    assert _result_audits() == 2 and SettlementRequest.objects.count() == 2


def _event(code: int, kind: str, home: dict, away: dict) -> dict:
    return {
        "id": 1, "startTimestamp": 1671375600, "season": {"name": "World Cup 2022"}, "roundInfo": {"name": "Final"},
        "status": {"code": code, "type": kind}, "homeTeam": {"name": "Argentina"}, "awayTeam": {"name": "France"},
        "homeScore": home, "awayScore": away,
    }


def _fields(feed) -> tuple:
    match = feed.matches[0]
    return (
        (match.home_score, match.away_score),
        (match.home_score_et, match.away_score_et),
        (match.home_penalties, match.away_penalties),
        match.regular_score_unknown,
    )


@pytest.mark.parametrize(
    ("home", "away", "expected"),
    [
        # `current` without shoot-out goals, as the recorded events give it.
        ({"current": 3, "normaltime": 2, "penalties": 2}, {"current": 3, "normaltime": 2, "penalties": 1},
         ((2, 2), (3, 3), (2, 1), False)),
        # `current` counting them: taken back out.
        ({"current": 5, "normaltime": 2, "penalties": 2}, {"current": 4, "normaltime": 2, "penalties": 1},
         ((2, 2), (3, 3), (2, 1), False)),
        # Periods win over `current`: they never hold shoot-out goals.
        ({"current": 3, "period1": 2, "period2": 0, "extra1": 0, "extra2": 1, "penalties": 1},
         {"current": 3, "period1": 0, "period2": 2, "extra1": 0, "extra2": 1, "penalties": 1},
         ((2, 2), (3, 3), (1, 1), False)),
        # Only a running score: the regular-time score is left to what the match holds.
        ({"current": 3}, {"current": 2}, ((None, None), (3, 2), (None, None), True)),
    ],
)
def test_sofascore_scores_in_extra_time_and_the_shoot_out(home, away, expected):
    code = 50 if "penalties" in home else 41
    assert _fields(sofascore_parse([_event(code, "inprogress", home, away)], options={})) == expected


def test_sofascore_awaiting_extra_time_is_still_the_regular_time_score():
    feed = sofascore_parse([_event(32, "inprogress", {"current": 1, "period1": 1}, {"current": 1, "period1": 0})], options={})

    assert _fields(feed) == ((1, 1), (None, None), (None, None), False)


def test_football_data_finished_after_extra_time_with_only_full_time_keeps_the_regular_score(poll, settings, http_server):
    poll("football-data", "3-second-half")
    finished = _recorded("football-data", "7-finished")
    score = finished["matches"][0]["score"]
    del score["regularTime"], score["extraTime"]
    http_server.script(FOOTBALL_DATA_PATH, finished)

    execution = ingestion_run(provider="football-data", source="WC", tournament_slug="wc")

    assert execution.status == Execution.Status.COMPLETED, execution.error
    assert _state(Match.objects.get()) == ("finished", (2, 2), (3, 3), (4, 2))
    # The 2-2 in play, then the final result.
    assert SettlementRequest.objects.count() == 2
