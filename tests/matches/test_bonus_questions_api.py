"""Bonus questions over HTTP (API.md "Bonus questions"): the list, answers, the summary, the staff settle."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone


from apps.common.models import AuditEntry
from apps.leaderboards.models import QuestionSettlementRequest, Standing
from apps.matches.models import BonusAnswer, BonusQuestion, Participation
from apps.matches.question_services import bonus_answer_submit, bonus_question_settle
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import MemberFactory, TeamFactory, TournamentFactory
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


def _question(tournament, *, kind="number", closes_in=timedelta(days=1), points=5) -> BonusQuestion:
    return BonusQuestion.objects.create(
        tournament=tournament, text=f"{kind}?", kind=kind, points=points, closes_at=timezone.now() + closes_in
    )


def _answer(client, question, answer):
    return client.put(f"/api/v1/questions/{question.id}/answer", {"answer": answer}, format="json")


def test_an_answer_is_created_then_changed_and_joins_the_tournament():
    tournament = TournamentFactory()
    question = _question(tournament)
    member = MemberFactory()
    client = member_client(member)

    created = _answer(client, question, 7)
    assert created.status_code == 201, created.content
    assert created.json()["question"] == question.id and created.json()["answer"] == 7
    assert created.json()["points"] is None and created.json()["updated_at"]
    assert Participation.objects.filter(tournament=tournament, member=member).exists()
    assert Standing.objects.filter(tournament=tournament, member=member).exists()

    changed = _answer(client, question, 12)
    assert changed.status_code == 200 and changed.json()["answer"] == 12
    assert BonusAnswer.objects.get(question=question, member=member).number == 12


def test_an_answer_after_closes_at_is_refused_with_question_closed():
    question = _question(TournamentFactory(), closes_in=-timedelta(seconds=1))
    response = _answer(member_client(MemberFactory()), question, 3)
    assert_error(response, 409, "question_closed")
    assert not BonusAnswer.objects.exists()


@pytest.mark.parametrize("answer", [1000, -1, True, "3", 2.5, None])
def test_a_number_question_refuses_what_is_not_a_number_from_0_to_999(answer):
    question = _question(TournamentFactory())
    response = _answer(member_client(MemberFactory()), question, answer)
    assert response.status_code == 400, response.content
    assert not BonusAnswer.objects.exists()


def test_a_team_question_takes_a_team_of_its_tournament_only():
    tournament = TournamentFactory()
    ours = TeamFactory(tournament=tournament)
    theirs = TeamFactory(tournament=TournamentFactory())
    question = _question(tournament, kind="team")
    client = member_client(MemberFactory())

    assert_error(_answer(client, question, theirs.id), 400, "invalid_answer")
    assert_error(_answer(client, question, 999_999_999), 400, "invalid_answer")
    assert _answer(client, question, ours.id).status_code == 201


def test_the_list_shows_options_and_only_the_callers_own_answer():
    tournament = TournamentFactory()
    teams = [TeamFactory(tournament=tournament) for _ in range(3)]
    who = _question(tournament, kind="team")
    goals = _question(tournament, kind="number", closes_in=timedelta(days=2))
    me, other = MemberFactory(), MemberFactory()
    _answer(member_client(me), goals, 9)
    _answer(member_client(other), goals, 4)
    _answer(member_client(other), who, teams[0].id)

    mine = member_client(me).get(f"/api/v1/tournaments/{tournament.id}/questions")
    assert mine.status_code == 200
    by_id = {row["id"]: row for row in mine.json()}
    assert by_id[goals.id]["my_answer"] == 9 and by_id[who.id]["my_answer"] is None
    assert {option["id"] for option in by_id[who.id]["options"]} == {team.id for team in teams}
    assert by_id[goals.id]["options"] is None
    assert by_id[who.id]["closed"] is False and by_id[who.id]["correct_answer"] is None
    assert set(by_id[who.id]) == {
        "id", "text", "kind", "points", "closes_at", "closed", "options", "my_answer", "correct_answer",
    }  # fmt: skip

    public = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/questions")
    assert public.status_code == 200 and all(row["my_answer"] is None for row in public.json())
    assert_error(anonymous_client().get("/api/v1/tournaments/999999/questions"), 404)


def test_the_summary_is_hidden_until_the_question_closes():
    tournament = TournamentFactory()
    question = _question(tournament)
    for number in (3, 3, 5):
        _answer(member_client(MemberFactory()), question, number)
    client = member_client(MemberFactory())

    assert_error(client.get(f"/api/v1/questions/{question.id}/answers/summary"), 403, "question_not_closed")

    BonusQuestion.objects.filter(pk=question.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    summary = client.get(f"/api/v1/questions/{question.id}/answers/summary")
    assert summary.status_code == 200
    assert summary.json() == {"total": 3, "answers": [{"answer": 3, "count": 2}, {"answer": 5, "count": 1}]}
    assert_error(client.get("/api/v1/questions/999999/answers/summary"), 404)


def test_settling_is_for_staff_and_writes_a_request_and_an_audit_entry(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    question = _question(tournament, closes_in=-timedelta(seconds=1))
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    url = f"/api/v1/admin/questions/{question.id}/settle"

    assert_error(member_client(member).post(url, {"answer": 3}, format="json"), 403)
    assert_error(anonymous_client().post(url, {"answer": 3}, format="json"), 401)
    assert_error(member_client(staff).post("/api/v1/admin/questions/999999/settle", {"answer": 3}, format="json"), 404)
    assert member_client(staff).post(url, {"answer": "3"}, format="json").status_code == 400
    assert member_client(staff).post(url, {}, format="json").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client(staff).post(url, {"answer": 3}, format="json")
    assert response.status_code == 202, response.content
    request = QuestionSettlementRequest.objects.get(pk=response.json()["job_id"])
    assert request.idempotency_key == f"question:{question.id}:1" and request.status == "done"
    entry = AuditEntry.objects.get(action="question_settled")
    assert entry.target_id == str(question.id) and entry.after["correct_answer"] == 3


def test_an_open_question_cannot_be_settled():
    question = _question(TournamentFactory())
    response = member_client(MemberFactory(is_staff=True)).post(
        f"/api/v1/admin/questions/{question.id}/settle", {"answer": 3}, format="json"
    )
    assert_error(response, 409, "question_not_closed")
    assert not QuestionSettlementRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_settle_waits_for_an_answer_change_in_flight_and_a_later_answer_finds_the_question_closed():
    """An answer holds a key-share lock of its question until it commits (a change too, which writes no key
    of the question); settling takes the row for update, so it counts every answer that got in."""
    tournament = TournamentFactory()
    question = _question(tournament, closes_in=timedelta(seconds=2))
    member = MemberFactory()
    bonus_answer_submit(member_id=member.id, question_id=question.id, answer=5)
    settled = threading.Event()

    def settle_once_closed():
        try:
            # Settling before closes_at is refused (question_not_closed): wait for the server clock to pass it.
            wait_until(lambda: timezone.now() >= question.closes_at, timeout=10, what="the question to close")
            bonus_question_settle(question_id=question.id, answer=3)
            settled.set()
        finally:
            connection.close()

    with transaction.atomic():
        bonus_answer_submit(member_id=member.id, question_id=question.id, answer=3)
        worker = threading.Thread(target=settle_once_closed)
        worker.start()
        # Past closes_at the settle is blocked behind this open answer.
        assert not settled.wait(timeout=3)
    worker.join(timeout=10)
    assert settled.is_set()
    # The settle committed after the answer: the settlement counts it, and nothing later can answer.
    assert BonusAnswer.objects.filter(question=question, number=3).count() == 1
    assert_error(_answer(member_client(MemberFactory()), question, 3), 409, "question_closed")
