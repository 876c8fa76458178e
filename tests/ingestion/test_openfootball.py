import json
from datetime import datetime, timezone

import pytest
from django.core.management import CommandError, call_command

from apps.ingestion.models import DataSource, Execution
from apps.ingestion.normalize import FINISHED, SCHEDULED, PayloadError
from apps.ingestion.providers.openfootball import kickoff_parse, openfootball_parse, time_zone_get
from apps.ingestion.services import ingestion_run
from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match, Round, Team, Tournament

from .conftest import PAYLOADS, WORLD_CUP_2022, WORLD_CUP_2026, write_json

pytestmark = pytest.mark.django_db


def _ingest(source, slug="wc", **kwargs):
    return ingestion_run(provider="openfootball", source=str(source), tournament_slug=slug, **kwargs)


def test_ingesting_world_cup_2026_creates_104_matches_48_teams_and_its_rounds():
    execution = _ingest(WORLD_CUP_2026)

    assert execution.status == Execution.Status.COMPLETED, execution.error
    tournament = Tournament.objects.get(slug="wc")
    assert tournament.name == "World Cup 2026"
    assert Match.objects.filter(tournament=tournament).count() == 104
    assert Team.objects.filter(tournament=tournament).count() == 48
    rounds = list(Round.objects.filter(tournament=tournament).order_by("order").values_list("name", flat=True))
    assert len(rounds) == 23
    assert rounds[0] == "Matchday 1" and rounds[-1] == "Final"
    assert execution.report["matches"]["created"] == 104
    assert execution.report["changes"] > 0
    assert [s.name for s in execution.steps.all()][:3] == ["fetched", "parsed", "upserted"]
    data_source = DataSource.objects.get(tournament=tournament)
    assert (data_source.provider, data_source.source) == ("openfootball", str(WORLD_CUP_2026))


def test_kickoffs_with_an_offset_are_stored_in_utc_and_scores_by_period():
    _ingest(WORLD_CUP_2026)

    opener = Match.objects.get(external_id="world-cup-2026:matchday-1:mexico:south-africa")
    assert opener.kickoff_at == datetime(2026, 6, 11, 19, 0, tzinfo=timezone.utc)  # "13:00 UTC-6"
    assert (opener.status, opener.home_score, opener.away_score, opener.result_version) == (FINISHED, 2, 0, 1)
    final = Match.objects.get(external_id="world-cup-2026:104")
    assert (final.home_score, final.away_score, final.home_score_et, final.away_score_et) == (0, 0, 1, 0)
    assert final.home_penalties is None


def test_ingesting_the_same_file_twice_reports_zero_changes_and_writes_nothing():
    _ingest(WORLD_CUP_2026)
    requests_before = SettlementRequest.objects.count()
    versions_before = dict(Match.objects.values_list("id", "result_version"))

    again = _ingest(WORLD_CUP_2026)

    assert again.status == Execution.Status.COMPLETED, again.error
    assert again.report["changes"] == 0
    assert again.report["matches"] == {"created": 0, "updated": 0, "unchanged": 104, "skipped": 0, "adopted": 0}
    assert SettlementRequest.objects.count() == requests_before
    assert dict(Match.objects.values_list("id", "result_version")) == versions_before


def test_editing_one_result_raises_its_result_version_by_one_and_writes_one_settlement_request(tmp_path):
    _ingest(WORLD_CUP_2026)
    data = json.loads(WORLD_CUP_2026.read_text())
    data["matches"][0]["score"]["ft"] = [3, 0]
    copy = write_json(tmp_path / "worldcup-2026.json", data)
    match = Match.objects.get(external_id="world-cup-2026:matchday-1:mexico:south-africa")
    before = SettlementRequest.objects.count()

    execution = _ingest(copy)

    assert execution.report["changes"] == 1
    assert execution.report["settlement_requests"] == {"settle": 1, "reverse": 0}
    match.refresh_from_db()
    assert (match.home_score, match.result_version) == (3, 2)
    assert SettlementRequest.objects.count() == before + 1
    request = SettlementRequest.objects.get(match=match, result_version=2)
    assert (request.kind, request.idempotency_key) == ("settle", f"settlement:{match.pk}:2")


def test_a_file_in_the_rounds_layout_passes_the_same_checks(tmp_path):
    source = PAYLOADS / "openfootball-worldcup-2026-rounds.json"
    first = _ingest(source)
    assert first.status == Execution.Status.COMPLETED, first.error
    assert Match.objects.count() == 104
    assert Team.objects.count() == 48
    assert Round.objects.count() == 23
    assert Team.objects.get(name="Curaçao").code == "CUW"

    assert _ingest(source).report["changes"] == 0

    data = json.loads(source.read_text())
    data["rounds"][-1]["matches"][0]["score"]["et"] = [2, 0]
    execution = _ingest(write_json(tmp_path / "rounds.json", data))
    final = Match.objects.get(external_id="world-cup-2026:104")
    assert (final.home_score_et, final.result_version) == (2, 2)
    assert execution.report["settlement_requests"]["settle"] == 1
    assert SettlementRequest.objects.filter(match=final).count() == 2


def test_times_without_an_offset_use_the_tournament_time_zone():
    execution = _ingest(WORLD_CUP_2022, options={"time_zone": "Asia/Qatar"})

    assert execution.status == Execution.Status.COMPLETED, execution.error
    opener = Match.objects.get(external_id="world-cup-2022:matchday-1:qatar:ecuador")
    assert opener.kickoff_at == datetime(2022, 11, 20, 16, 0, tzinfo=timezone.utc)
    assert Tournament.objects.get(slug="wc").time_zone == "Asia/Qatar"
    final = Match.objects.get(external_id="world-cup-2022:final:argentina:france")
    assert (final.home_score, final.home_score_et, final.home_penalties, final.away_penalties) == (2, 3, 4, 2)
    # The zone is the tournament's setting from then on: a later run without it changes nothing.
    assert _ingest(WORLD_CUP_2022).report["changes"] == 0


def test_matches_not_played_yet_are_scheduled_without_a_score():
    feed = openfootball_parse(
        {
            "name": "Cup",
            "matches": [
                {"round": "Final", "date": "2030-07-21", "time": "20:00 UTC+2", "team1": "A", "team2": "B", "score": {}},
                {"round": "Final", "date": "2030-07-22", "team1": "C", "team2": "D"},
                {"round": "Final", "num": 64, "date": "2030-07-23", "team1": "W61", "team2": "W62"},
            ],
        },
        options={},
    )
    assert [(m.status, m.home_score) for m in feed.matches] == [(SCHEDULED, None), (SCHEDULED, None)]
    assert feed.matches[0].kickoff_at == datetime(2030, 7, 21, 18, 0, tzinfo=timezone.utc)
    assert feed.skipped and "not known yet" in feed.skipped[0]


@pytest.mark.parametrize(
    ("raw_time", "expected"),
    [("13:00 UTC-6", (19, 0)), ("18:00 UTC+5:30", (12, 30)), ("21:00 UTC", (21, 0)), ("19:00", (16, 0))],
)
def test_kickoff_times_parse_with_and_without_offsets(raw_time, expected):
    kickoff = kickoff_parse("2022-11-20", raw_time, tz=time_zone_get("Asia/Qatar"), where="m")
    assert (kickoff.hour, kickoff.minute) == expected
    assert kickoff.tzinfo == timezone.utc


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (lambda d: d["matches"][0]["score"].update(ft=[1]), "pair"),
        (lambda d: d["matches"][0].update(date="2026-13-40"), "invalid date"),
        (lambda d: d["matches"][0].update(team2=d["matches"][0]["team1"]), "cannot play itself"),
        (lambda d: d["matches"][0]["score"].update(ft=[-1, 0]), "outside"),
        (lambda d: d.pop("matches"), "'matches' or 'rounds'"),
    ],
)
def test_a_payload_that_fails_validation_fails_its_execution_and_changes_nothing(tmp_path, mutation, reason):
    _ingest(WORLD_CUP_2026)
    snapshot = list(Match.objects.order_by("id").values())
    data = json.loads(WORLD_CUP_2026.read_text())
    data["matches"][5]["score"]["ft"] = [9, 9]  # a change that must not land
    mutation(data)

    execution = _ingest(write_json(tmp_path / "bad.json", data))

    assert execution.status == Execution.Status.FAILED
    assert reason in execution.error
    assert execution.report["error"] == execution.error and execution.report["stage"] == "parse"
    assert execution.steps.filter(name="error").exists()
    assert list(Match.objects.order_by("id").values()) == snapshot


def test_a_failure_while_writing_rolls_back_every_write_of_the_execution(tmp_path):
    other = Tournament.objects.create(name="Other", slug="other")
    _ingest(WORLD_CUP_2026, slug="other")
    # The final now belongs to "other"; a new tournament fed the same file would
    # write rounds and teams before meeting that match.
    Match.objects.filter(tournament=other).exclude(external_id="world-cup-2026:104").delete()

    execution = _ingest(WORLD_CUP_2026, slug="fresh")

    assert execution.status == Execution.Status.FAILED
    assert execution.report["stage"] == "upsert"
    assert "already belongs to another tournament" in execution.error
    assert not Tournament.objects.filter(slug="fresh").exists()
    assert execution.tournament_id is None
    assert Team.objects.exclude(tournament=other).count() == 0


def test_invalid_time_zone_is_a_readable_failure():
    execution = _ingest(WORLD_CUP_2022, options={"time_zone": "Mars/Olympus"})
    assert execution.status == Execution.Status.FAILED
    assert "Unknown time zone 'Mars/Olympus'" in execution.error


def test_missing_file_is_a_readable_failure():
    execution = _ingest("data/openfootball/nowhere.json")
    assert execution.status == Execution.Status.FAILED
    assert execution.report["stage"] == "fetch"
    assert "Cannot read data/openfootball/nowhere.json" in execution.error


def test_ingest_command_creates_the_tournament_prints_the_report_and_records_the_source(capsys):
    call_command(
        "ingest", "--provider", "openfootball", "--source", str(WORLD_CUP_2026), "--tournament", "wc26", "--no-progress"
    )
    out = capsys.readouterr().out
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["matches"]["created"] == 104
    assert "completed" in out
    assert DataSource.objects.get(tournament__slug="wc26").provider == "openfootball"


def test_ingest_command_shows_progress_and_derives_the_slug_from_the_name(capsys):
    call_command("ingest", "--provider", "openfootball", "--source", str(WORLD_CUP_2022), "--time-zone", "Asia/Qatar")
    captured = capsys.readouterr()
    assert Tournament.objects.filter(slug="world-cup-2022", time_zone="Asia/Qatar").exists()
    assert "upsert" in captured.err and "64/64" in captured.err


def test_ingest_command_exits_non_zero_with_the_reason_on_failure(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("ingest", "--provider", "openfootball", "--source", str(bad), "--tournament", "x", "--no-progress")
    assert Execution.objects.get().status == Execution.Status.FAILED


def test_payload_error_names_the_match():
    with pytest.raises(PayloadError, match=r"match #1 \(Final: A - B\)"):
        openfootball_parse(
            {"name": "Cup", "matches": [{"round": "Final", "date": "2030-07-21", "time": "25:00", "team1": "A", "team2": "B"}]},
            options={},
        )


def test_a_result_set_by_hand_is_kept_against_the_feed_until_staff_release_it(tmp_path):
    from apps.matches.services import match_result_correct

    data = json.loads(WORLD_CUP_2026.read_text())
    data["matches"][0]["score"] = {"ft": [1, 0]}
    feed = write_json(tmp_path / "worldcup-2026.json", data)
    _ingest(feed)
    match = Match.objects.get(external_id="world-cup-2026:matchday-1:mexico:south-africa")
    assert (match.status, match.home_score, match.away_score, match.result_version) == (FINISHED, 1, 0, 1)

    match_result_correct(match_id=match.pk, home_score=2, away_score=0)
    match.refresh_from_db()
    assert (match.home_score, match.result_by_hand, match.result_version) == (2, True, 2)

    data["matches"][0]["score"] = {"ft": [1, 1]}
    write_json(feed, data)
    requests_before = SettlementRequest.objects.filter(match=match).count()
    kept = _ingest(feed)
    match.refresh_from_db()
    assert kept.status == Execution.Status.COMPLETED, kept.error
    assert (match.home_score, match.away_score, match.result_version) == (2, 0, 2)
    assert SettlementRequest.objects.filter(match=match).count() == requests_before

    Match.objects.filter(pk=match.pk).update(result_by_hand=False)
    released = _ingest(feed)
    match.refresh_from_db()
    assert released.report["settlement_requests"] == {"settle": 1, "reverse": 0}
    assert (match.home_score, match.away_score, match.result_version) == (1, 1, 3)
