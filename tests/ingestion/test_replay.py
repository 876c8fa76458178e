"""The replay plays a finished tournament as a live feed on a compressed timeline."""

import functools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from apps.common.audit import Action
from apps.common.models import AuditEntry
from apps.ingestion.management.commands.run_replay import Command
from apps.ingestion.models import DataSource, Execution
from apps.ingestion.normalize import PayloadError
from apps.ingestion.providers import PROVIDERS
from apps.ingestion.providers.replay import ReplayProvider, replay_parse
from apps.ingestion.services import ingestion_run
from apps.leaderboards.models import QuestionSettlementRequest, SettlementRequest, Standing
from apps.matches.models import BonusAnswer, BonusQuestion, Match, Tournament
from apps.members.models import Member
from tests.waiting import wait_until

from .conftest import WORLD_CUP_2022, write_json

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


@functools.cache
def payload_2022() -> dict:
    return json.loads(WORLD_CUP_2022.read_text())


def _three_matches(tmp_path):
    """Kickoffs at 18:00, 21:00 and 00:00: eight virtual hours from first kickoff to last whistle."""
    matches = [
        {"round": "Matchday 1", "date": "2022-11-20", "time": "18:00 UTC", "team1": "Qatar", "team2": "Ecuador",
         "score": {"ft": [0, 2]}},
        {"round": "Matchday 1", "date": "2022-11-20", "time": "21:00 UTC", "team1": "England", "team2": "Iran",
         "score": {"ft": [6, 2]}},
        {"round": "Matchday 2", "date": "2022-11-21", "time": "00:00 UTC", "team1": "Senegal", "team2": "Netherlands",
         "score": {"ft": [0, 2]}},
    ]
    return write_json(tmp_path / "mini.json", {"name": "Mini Cup", "matches": matches})


def _statuses(feed):
    return [m.status for m in feed.matches]


def test_the_first_replay_tick_schedules_every_fixture_on_the_compressed_timeline():
    data = payload_2022()
    feed = replay_parse(data, options={"speed": 1400, "lead_seconds": 60}, now=T0)

    assert set(_statuses(feed)) == {"scheduled"}
    assert all(m.home_score is None for m in feed.matches)
    kickoffs = sorted(m.kickoff_at for m in feed.matches)
    assert kickoffs[0] == T0 + timedelta(seconds=60)
    # 28 days minus 4 hours between the opener and the final, divided by 1400.
    span = (datetime(2022, 12, 18, 15) - datetime(2022, 11, 20, 16)).total_seconds() / 1400
    assert abs((kickoffs[-1] - kickoffs[0]).total_seconds() - span) <= 1
    assert feed.name == "World Cup 2022 (replay)"


def test_a_match_is_live_from_its_scaled_kickoff_and_finished_two_scaled_hours_later():
    data = payload_2022()
    state = replay_parse(data, options={"speed": 3600, "lead_seconds": 10}, now=T0).state
    opener = lambda feed: next(m for m in feed.matches if m.home.name == "Qatar")  # noqa: E731

    at = lambda seconds: replay_parse(data, options={**state, "speed": 3600}, now=T0 + timedelta(seconds=seconds))  # noqa: E731

    score = lambda feed: (opener(feed).status, opener(feed).home_score, opener(feed).away_score)  # noqa: E731
    assert opener(at(9)).status == "scheduled"
    assert score(at(10.1)) == ("live", 0, 0)  # six minutes in
    assert score(at(11)) == ("live", 0, 2)  # an hour in: Valencia scored at 16 and 31
    assert opener(at(10 + 1.9)).status == "live"  # two hours at 3600x are two seconds
    finished = opener(at(10 + 2.1))
    assert (finished.status, finished.home_score, finished.away_score) == ("finished", 0, 2)


def test_a_new_speed_keeps_the_virtual_present_where_it_was():
    data = payload_2022()
    state = replay_parse(data, options={"speed": 1000, "lead_seconds": 0}, now=T0).state
    later = T0 + timedelta(seconds=500)
    before = replay_parse(data, options={**state, "speed": 1000}, now=later).state["replay_position"]

    faster = replay_parse(data, options={**state, "speed": 4000}, now=later).state

    assert faster["replay_position"] == before
    assert faster["replay_speed"] == 4000


def test_a_resumed_replay_continues_from_the_moment_it_had_reached():
    data = payload_2022()
    state = replay_parse(data, options={"speed": 1000, "lead_seconds": 0}, now=T0).state
    state = replay_parse(data, options={**state, "speed": 1000}, now=T0 + timedelta(seconds=600)).state
    reached = state["replay_position"]

    # Stopped for an hour, then started again: no jump of 1000 hours.
    resumed = replay_parse(data, options={**state, "speed": 1000, "replay_resume": True}, now=T0 + timedelta(hours=1))

    assert resumed.state["replay_position"] == reached


@pytest.mark.django_db
def test_the_replay_moves_matches_to_finished_while_it_runs(tmp_path):
    source = str(_three_matches(tmp_path))
    seen: dict[str, list[str]] = {}
    deadline = time.monotonic() + 20
    options = {"speed": 20000, "lead_seconds": 0.3}  # two match hours last 0.36 s
    while time.monotonic() < deadline:
        execution = ingestion_run(provider="replay", source=source, tournament_slug="mini", options=options)
        assert execution.status == Execution.Status.COMPLETED, execution.error
        for match in Match.objects.select_related("home_team"):
            history = seen.setdefault(match.home_team.name, [])
            if not history or history[-1] != match.status:
                history.append(match.status)
        if all(h[-1] == "finished" for h in seen.values()):
            break

    assert seen == {name: ["scheduled", "live", "finished"] for name in ("Qatar", "England", "Senegal")}
    assert Match.objects.get(home_team__name="England").home_score == 6
    # Kickoff and the final whistle (and any goal a tick saw) each ask for one settlement.
    versions = sum(Match.objects.values_list("result_version", flat=True))
    assert SettlementRequest.objects.filter(kind="settle").count() == versions >= 6
    assert Tournament.objects.get(slug="mini").status == "finished"
    state = DataSource.objects.get(tournament__slug="mini").options
    assert state["replay_speed"] == 20000 and "replay_start" in state


@pytest.mark.django_db
def test_run_replay_plays_a_whole_world_cup_at_high_speed_to_the_end(capsys):
    # 28 days at 2.5 million x: about one second of play.
    call_command(
        "run_replay", "--tournament", "wc22", "--source", str(WORLD_CUP_2022), "--speed", "2500000",
        "--interval", "0.5", "--lead", "0.2", "--exit-when-finished", "--max-seconds", "30",
    )

    out = capsys.readouterr().out
    assert "The replay has played to the end." in out
    tournament = Tournament.objects.get(slug="wc22")
    assert tournament.name == "World Cup 2022 (replay)"
    assert Match.objects.filter(tournament=tournament, status="finished").count() == 64
    # One request per result version (goals a tick skipped over never became one).
    matches = Match.objects.filter(tournament=tournament)
    assert SettlementRequest.objects.filter(match__tournament=tournament).count() == sum(
        matches.values_list("result_version", flat=True)
    )
    final = Match.objects.get(tournament=tournament, round__name="Final")
    assert (final.home_score, final.home_score_et, final.home_penalties) == (2, 3, 4)
    # It ticks at transitions, not in a tight loop.
    assert Execution.objects.filter(tournament=tournament).count() < 200


@pytest.mark.django_db
def test_run_replay_fails_fast_when_the_file_cannot_be_read():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="could not start"):
        call_command("run_replay", "--tournament", "x", "--source", "nowhere.json", "--speed", "10", "--max-seconds", "5")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_run_replay_stops_cleanly_on_sigterm(tmp_path):
    source = _three_matches(tmp_path)
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_replay", "--tournament", "mini", "--source", str(source),
         "--speed", "10", "--interval", "0.2", "--lead", "600"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        def all_created() -> bool:
            assert process.poll() is None, process.communicate()
            return Match.objects.filter(tournament__slug="mini").count() == 3

        wait_until(all_created, timeout=30, what="run_replay to create the three fixtures")
        assert Match.objects.filter(tournament__slug="mini", status="scheduled").count() == 3

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, err
    assert "Replay stopped" in out


@pytest.mark.django_db
def test_the_first_replay_ingestion_creates_every_fixture_scheduled_and_a_second_changes_nothing():
    from django.utils import timezone as django_timezone

    first = ingestion_run(provider="replay", source=str(WORLD_CUP_2022), tournament_slug="wc22", options={"speed": 1400})
    second = ingestion_run(provider="replay", source=str(WORLD_CUP_2022), tournament_slug="wc22", options={"speed": 1400})

    assert first.report["matches"]["created"] == 64
    assert set(Match.objects.values_list("status", flat=True)) == {"scheduled"}
    assert Match.objects.order_by("kickoff_at").first().kickoff_at > django_timezone.now() + timedelta(seconds=60)
    assert Match.objects.order_by("kickoff_at").last().kickoff_at < django_timezone.now() + timedelta(minutes=35)
    assert second.report["changes"] == 0
    assert not SettlementRequest.objects.exists()


GOAL_CUP = {
    "name": "Goal Cup",
    "matches": [
        # Goals listed out of order, as openfootball files do; extra time and a shoot-out.
        {"round": "Final", "num": 1, "date": "2022-12-18", "time": "18:00 UTC", "team1": "Argentina", "team2": "France",
         "score": {"ft": [2, 2], "et": [3, 3], "p": [4, 2]},
         "goals1": [{"name": "Messi", "minute": 23, "penalty": True}, {"name": "Messi", "minute": 108},
                    {"name": "Di María", "minute": 36}],
         "goals2": [{"name": "Mbappé", "minute": 80, "penalty": True}, {"name": "Mbappé", "minute": 81},
                    {"name": "Mbappé", "minute": 118, "penalty": True}]},
        # Stoppage time spelled both ways, and an own goal listed under the side it counted for.
        {"round": "Final", "num": 2, "date": "2022-12-18", "time": "18:00 UTC", "team1": "Netherlands",
         "team2": "Senegal", "score": {"ft": [2, 1]},
         "goals1": [{"name": "Klaassen", "minute": 90, "offset": 9}, {"name": "Gakpo", "minute": 84}],
         "goals2": [{"name": "De Ligt", "minute": "45+2", "owngoal": True}]},
        # No goal lists: 0-0 until the final whistle.
        {"round": "Final", "num": 3, "date": "2022-12-18", "time": "18:00 UTC", "team1": "England", "team2": "Wales",
         "score": {"ft": [3, 0]}},
    ],
}
SCHEDULED_ = ("scheduled", (None, None), (None, None), (None, None))
EXPECTED_PLAY = {
    "Argentina": [
        SCHEDULED_,
        ("live", (0, 0), (None, None), (None, None)),
        ("live", (1, 0), (None, None), (None, None)),  # 23'
        ("live", (2, 0), (None, None), (None, None)),  # 36'
        ("live", (2, 1), (None, None), (None, None)),  # 80'
        ("live", (2, 2), (None, None), (None, None)),  # 81'
        ("live", (2, 2), (2, 2), (None, None)),  # extra time starts
        ("live", (2, 2), (3, 2), (None, None)),  # 108'
        ("live", (2, 2), (3, 3), (None, None)),  # 118'
        ("finished", (2, 2), (3, 3), (4, 2)),
    ],
    "Netherlands": [
        SCHEDULED_,
        ("live", (0, 0), (None, None), (None, None)),
        ("live", (0, 1), (None, None), (None, None)),  # 45+2'
        ("live", (1, 1), (None, None), (None, None)),  # 84'
        ("live", (2, 1), (None, None), (None, None)),  # 90+9'
        ("finished", (2, 1), (None, None), (None, None)),
    ],
    "England": [SCHEDULED_, ("live", (0, 0), (None, None), (None, None)), ("finished", (3, 0), (None, None), (None, None))],
}


def _scores(match) -> tuple:
    return (
        match.status,
        (match.home_score, match.away_score),
        (match.home_score_et, match.away_score_et),
        (match.home_penalties, match.away_penalties),
    )


def _played(history: dict, name: str, state: tuple) -> None:
    seen = history.setdefault(name, [])
    if not seen or seen[-1] != state:
        seen.append(state)


def test_the_replay_plays_each_goal_at_its_minute_in_order():
    # At 60x a virtual minute lasts a second: sample every minute of the three matches.
    state = replay_parse(GOAL_CUP, options={"speed": 60, "lead_seconds": 1}, now=T0).state
    history: dict[str, list] = {}
    for minute in range(-1, 155):
        feed = replay_parse(GOAL_CUP, options={**state, "speed": 60}, now=T0 + timedelta(seconds=1.5 + minute))
        for match in feed.matches:
            _played(history, match.home.name, _scores(match))

    assert history == EXPECTED_PLAY


def test_goals_that_do_not_add_up_to_the_result_fall_back_to_the_final_score_at_the_whistle():
    data = {"name": "Odd Cup", "matches": [
        {"round": "Final", "date": "2022-12-18", "time": "18:00 UTC", "team1": "Spain", "team2": "Italy",
         "score": {"ft": [2, 0]}, "goals1": [{"name": "Morata", "minute": 12}], "goals2": []},
    ]}
    state = replay_parse(data, options={"speed": 60, "lead_seconds": 0}, now=T0).state
    history: dict[str, list] = {}
    for minute in range(0, 125, 4):
        feed = replay_parse(data, options={**state, "speed": 60}, now=T0 + timedelta(seconds=0.5 + minute))
        _played(history, "Spain", _scores(feed.matches[0]))

    assert history["Spain"] == [
        ("live", (0, 0), (None, None), (None, None)),
        ("finished", (2, 0), (None, None), (None, None)),
    ]


def test_a_goal_minute_the_replay_cannot_read_is_a_readable_failure():
    data = {"name": "Odd Cup", "matches": [
        {"round": "Final", "date": "2022-12-18", "time": "18:00 UTC", "team1": "Spain", "team2": "Italy",
         "score": {"ft": [1, 0]}, "goals1": [{"name": "Morata", "minute": "late"}]},
    ]}
    with pytest.raises(PayloadError, match="a goal's minute must be 1..120"):
        replay_parse(data, options={"speed": 60, "lead_seconds": 0}, now=T0)


def test_a_replay_stopped_between_two_goals_resumes_with_the_score_it_had_and_the_next_goal_to_come():
    state = replay_parse(GOAL_CUP, options={"speed": 60, "lead_seconds": 0}, now=T0).state
    # 40 virtual minutes in: Argentina lead 2-0, France score at 80.
    state = replay_parse(GOAL_CUP, options={**state, "speed": 60}, now=T0 + timedelta(seconds=40)).state
    final = lambda feed: next(m for m in feed.matches if m.home.name == "Argentina")  # noqa: E731

    later = T0 + timedelta(hours=5)
    resumed = replay_parse(GOAL_CUP, options={**state, "speed": 60, "replay_resume": True}, now=later)

    assert _scores(final(resumed))[:2] == ("live", (2, 0))
    # The next goal is the own goal at 45+2 in the other match, seven virtual minutes on.
    assert datetime.fromisoformat(resumed.state["replay_next_at"]) == later + timedelta(seconds=7)
    after = replay_parse(GOAL_CUP, options={**resumed.state, "speed": 60}, now=later + timedelta(seconds=40.5))
    assert _scores(final(after))[:2] == ("live", (2, 1))


@pytest.mark.django_db
def test_ingested_replay_ticks_move_the_match_goal_by_goal_and_settle_every_counted_goal(tmp_path, monkeypatch):
    clock = {"now": T0}
    monkeypatch.setitem(PROVIDERS, "replay", lambda: ReplayProvider(clock=lambda: clock["now"]))
    source = str(write_json(tmp_path / "goals.json", GOAL_CUP))
    history: dict[str, list] = {}
    for minute in range(-1, 155):
        clock["now"] = T0 + timedelta(seconds=1.5 + minute)
        execution = ingestion_run(
            provider="replay", source=source, tournament_slug="goals", options={"speed": 60, "lead_seconds": 1}
        )
        assert execution.status == Execution.Status.COMPLETED, execution.error
        for match in Match.objects.select_related("home_team"):
            _played(history, match.home_team.name, _scores(match))
        if minute == 100:
            # Nothing in the file changes between two goals: a tick then writes nothing.
            again = ingestion_run(
                provider="replay", source=source, tournament_slug="goals", options={"speed": 60, "lead_seconds": 1}
            )
            assert again.report["matches"]["updated"] == 0

    assert history == EXPECTED_PLAY
    # Kickoff, every goal of regular time and the final whistle each move the version and settle:
    # Argentina 0-0, 1-0, 2-0, 2-1, 2-2, final (extra-time goals count nothing under "regular");
    # the Netherlands 0-0, 0-1, 1-1, 2-1, final; England 0-0, final.
    versions = dict(Match.objects.values_list("home_team__name", "result_version"))
    assert versions == {"Argentina": 6, "Netherlands": 5, "England": 2}
    assert SettlementRequest.objects.filter(kind="settle").count() == 13
    assert AuditEntry.objects.filter(action=Action.RESULT_CHANGED).count() == 13


@pytest.mark.django_db
def test_run_replay_sleeps_until_the_next_kickoff_goal_or_whistle_the_replay_noted(tmp_path):
    source = str(write_json(tmp_path / "goals.json", GOAL_CUP))
    # The next moment is the kickoffs, 1 s away; at 60x the first goal comes 23 s later.
    ingestion_run(provider="replay", source=source, tournament_slug="goals", options={"speed": 60, "lead_seconds": 1})
    assert 0.5 < Command._pause("goals", interval=5.0) <= 1.05

    DataSource.objects.filter(tournament__slug="goals").update(
        options={"replay_next_at": (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()}
    )
    assert Command._pause("goals", interval=5.0) == 5.0


def test_a_shoot_out_straight_after_regular_time_never_shows_an_extra_time_score():
    data = {"name": "Shoot-out Cup", "matches": [
        {"round": "Final", "date": "2022-12-18", "time": "18:00 UTC", "team1": "Spain", "team2": "Italy",
         "score": {"ft": [1, 1], "p": [5, 4]}, "goals1": [{"name": "Morata", "minute": 12}],
         "goals2": [{"name": "Chiesa", "minute": "90+2"}]},
    ]}
    state = replay_parse(data, options={"speed": 60, "lead_seconds": 0}, now=T0).state
    history: dict[str, list] = {}
    for minute in range(0, 155):
        feed = replay_parse(data, options={**state, "speed": 60}, now=T0 + timedelta(seconds=0.5 + minute))
        _played(history, "Spain", _scores(feed.matches[0]))

    assert history["Spain"] == [
        ("live", (0, 0), (None, None), (None, None)),
        ("live", (1, 0), (None, None), (None, None)),
        ("live", (1, 1), (None, None), (None, None)),
        ("finished", (1, 1), (None, None), (5, 4)),
    ]


@pytest.mark.django_db
def test_run_replay_settles_the_questions_its_final_answers_when_it_ends(
    tmp_path, capsys, django_capture_on_commit_callbacks
):
    source = str(_three_matches(tmp_path))
    # The fixtures first, then the questions the last match (Senegal 0-2 Netherlands) answers.
    ingestion_run(provider="replay", source=source, tournament_slug="mini", options={"speed": 20000, "lead_seconds": 0.3})
    tournament = Tournament.objects.get(slug="mini")
    final = Match.objects.filter(tournament=tournament).order_by("-kickoff_at").select_related("away_team").first()
    winner = BonusQuestion.objects.create(
        tournament=tournament, text="Who wins?", kind="team", points=10, answered_by="tournament_winner",
        closes_at=final.kickoff_at + timedelta(days=30),
    )  # fmt: skip
    goals = BonusQuestion.objects.create(
        tournament=tournament, text="Goals in the final?", kind="number", points=5, answered_by="final_goals",
        closes_at=final.kickoff_at + timedelta(days=30),
    )  # fmt: skip
    fan = Member.objects.create_user(username="fan", password="x")
    BonusAnswer.objects.create(question=winner, member=fan, team=final.away_team)
    BonusAnswer.objects.create(question=goals, member=fan, number=2)

    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "run_replay", "--tournament", "mini", "--source", source, "--speed", "20000",
            "--interval", "0.2", "--lead", "0.3", "--exit-when-finished", "--max-seconds", "30",
        )  # fmt: skip

    assert "Settled 2 bonus question(s)" in capsys.readouterr().out
    winner.refresh_from_db()
    goals.refresh_from_db()
    assert winner.correct_team == final.away_team and goals.correct_number == 2
    assert set(QuestionSettlementRequest.objects.values_list("status", flat=True)) == {"done"}
    assert Standing.objects.get(tournament=tournament, member=fan).points == 15
