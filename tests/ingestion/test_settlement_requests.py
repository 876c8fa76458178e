"""Every result change writes exactly one settlement request, in the ingestion's transaction."""

import pytest

from apps.ingestion.services import ingestion_run
from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match

from .conftest import write_json

pytestmark = pytest.mark.django_db


def _feed(tmp_path, *, score=None, status=None, name="feed.json"):
    match = {"round": "Final", "num": 1, "date": "2030-07-21", "time": "18:00 UTC", "team1": "Spain", "team2": "Brazil"}
    if score is not None:
        match["score"] = score
    if status is not None:
        match["status"] = status
    return write_json(tmp_path / name, {"name": "Cup 2030", "matches": [match]})


def _run(path, operation="full"):
    execution = ingestion_run(provider="openfootball", source=str(path), tournament_slug="cup", operation=operation)
    assert execution.status == "completed", execution.error
    return execution


def _requests():
    return list(SettlementRequest.objects.order_by("id").values_list("kind", "result_version"))


def test_a_scheduled_match_writes_no_request(tmp_path):
    _run(_feed(tmp_path))
    assert _requests() == []
    assert Match.objects.get().result_version == 0


def test_a_match_becoming_finished_writes_one_settle_request_at_the_new_version(tmp_path):
    _run(_feed(tmp_path))
    _run(_feed(tmp_path, score={"ft": [1, 0]}))
    _run(_feed(tmp_path, score={"ft": [1, 0]}))

    assert _requests() == [("settle", 1)]
    assert Match.objects.get().result_version == 1


def test_each_result_correction_writes_exactly_one_settle_request(tmp_path):
    _run(_feed(tmp_path, score={"ft": [1, 1]}))
    _run(_feed(tmp_path, score={"ft": [1, 2]}))
    _run(_feed(tmp_path, score={"ft": [1, 2], "et": [2, 2]}))
    _run(_feed(tmp_path, score={"ft": [1, 2], "et": [2, 2]}))

    assert _requests() == [("settle", 1), ("settle", 2), ("settle", 3)]


def test_a_penalty_shootout_change_alone_settles_nothing(tmp_path):
    _run(_feed(tmp_path, score={"ft": [1, 1], "et": [1, 1], "p": [4, 3]}))
    _run(_feed(tmp_path, score={"ft": [1, 1], "et": [1, 1], "p": [5, 4]}))

    match = Match.objects.get()
    assert (match.home_penalties, match.result_version) == (5, 1)
    assert _requests() == [("settle", 1)]


@pytest.mark.parametrize("void", ["cancelled", "abandoned"])
def test_a_settled_match_becoming_void_writes_one_reverse_request(tmp_path, void):
    _run(_feed(tmp_path, score={"ft": [2, 0]}))
    _run(_feed(tmp_path, score={"ft": [2, 0]}, status=void))
    _run(_feed(tmp_path, score={"ft": [2, 0]}, status=void))

    match = Match.objects.get()
    assert (match.status, match.result_version) == (void, 2)
    assert _requests() == [("settle", 1), ("reverse", 2)]


def test_a_void_match_that_was_never_settled_writes_nothing(tmp_path):
    _run(_feed(tmp_path))
    _run(_feed(tmp_path, status="cancelled"))
    assert _requests() == []


def test_a_reversed_match_finished_again_is_settled_again(tmp_path):
    _run(_feed(tmp_path, score={"ft": [2, 0]}))
    _run(_feed(tmp_path, score={"ft": [2, 0]}, status="abandoned"))
    _run(_feed(tmp_path, score={"ft": [3, 0]}))
    assert _requests() == [("settle", 1), ("reverse", 2), ("settle", 3)]


def test_a_fixtures_run_never_touches_results(tmp_path):
    _run(_feed(tmp_path, score={"ft": [2, 0]}), operation="fixtures")
    match = Match.objects.get()
    assert (match.status, match.home_score, match.result_version) == ("scheduled", None, 0)
    assert _requests() == []

    _run(_feed(tmp_path, score={"ft": [2, 0]}), operation="results")
    match.refresh_from_db()
    assert (match.status, match.home_score, match.result_version) == ("finished", 2, 1)
    assert _requests() == [("settle", 1)]


def test_a_results_run_skips_matches_it_does_not_know(tmp_path):
    execution = _run(_feed(tmp_path, score={"ft": [2, 0]}), operation="results")
    assert Match.objects.count() == 0
    assert execution.report["matches"]["skipped"] == 1
    assert "run fixtures first" in execution.report["skipped"][0]


def test_the_settlement_job_is_enqueued_only_after_the_ingestion_commits(tmp_path, django_capture_on_commit_callbacks):
    _run(_feed(tmp_path))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _run(_feed(tmp_path, score={"ft": [1, 0]}))
    # One callback for the settlement request; nothing was sent while the transaction was open.
    assert len(callbacks) == 1
    assert SettlementRequest.objects.get().status == "pending"
