"""A bonus question settles in batches like a match: settle, re-settle, un-settle, resume, a real worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.common.errors import Conflict
from apps.leaderboards.boards import projection_write
from apps.leaderboards.models import BoardState, QuestionSettlementRequest, Standing
from apps.leaderboards.settlement import outbox, question_sql
from apps.leaderboards.settlement.operations import question_settle_now
from apps.leaderboards.settlement.runner import question_settlement_run
from apps.leaderboards.settlement.verify import standings_verify
from apps.leagues.models import League, LeagueMembership
from apps.matches.models import BonusAnswer, BonusQuestion, Match
from apps.matches.question_selectors import bonus_answer_points
from apps.matches.question_services import bonus_question_update, bonus_questions_settle_from_final
from apps.members.models import Member
from tests.factories import MemberFactory, TeamFactory, TournamentFactory
from tests.waiting import wait_until

from .helpers import expected_totals, finish, guesses, leaderboard_page, match_in, players, standings
from .workers import publish, worker_env, worker_start, worker_stop

pytestmark = pytest.mark.django_db

POINTS = 5


def _closed_question(tournament, kind="number", points=POINTS) -> BonusQuestion:
    return BonusQuestion.objects.create(
        tournament=tournament, text="How many?", kind=kind, points=points,
        closes_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip


def _expected(tournament, question, correct, match_results=()) -> dict:
    """member id -> (points, exact, outcome): guesses by the pure rules plus `question.points` per correct answer."""
    totals = {member_id: list(row) for member_id, row in expected_totals(list(match_results)).items()}
    if correct is not None:
        for answer in BonusAnswer.objects.filter(question=question):
            if answer.answer == correct:
                totals.setdefault(answer.member_id, [0, 0, 0])[0] += question.points
    return {member_id: tuple(row) for member_id, row in totals.items() if any(row)}


def _board(tournament) -> dict:
    page = leaderboard_page(board=f"tournament:{tournament.id}", limit=100, offset=0)
    assert page["source"] == "redis"
    return {row["member"]["id"]: row["points"] for row in page["rows"] if row["points"]}


@pytest.fixture
def quiz(django_capture_on_commit_callbacks):
    """Ten members, a settled 2-1 match, a league of four, and a closed number question answered by all."""
    tournament = TournamentFactory()
    members = players(tournament, 10)
    match = match_in(tournament)
    guesses(match, {m: pick for m, pick in zip(members, [(2, 1), (1, 0), (0, 0), (1, 2), (3, 1)] * 2)})
    with django_capture_on_commit_callbacks(execute=True):
        finish(match, 2, 1)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    league = League.objects.create(tournament=tournament, name="friends", owner=members[0], invite_code="q1")
    for member in members[:4]:
        LeagueMembership.objects.create(league=league, member=member)
    question = _closed_question(tournament)
    BonusAnswer.objects.bulk_create(
        BonusAnswer(question=question, member=m, number=n) for m, n in zip(members, [3, 3, 4, 5, 3, 4, 0, 3, 9, 4])
    )
    return tournament, match, question, members, league


def _settle(question, answer, capture):
    with capture(execute=True):
        request = question_settle_now(question_id=question.id, answer=answer)
    request.refresh_from_db()
    return request


def test_settle_resettle_and_unsettle_move_standings_and_boards_by_the_difference(
    quiz, django_capture_on_commit_callbacks
):
    tournament, match, question, members, league = quiz
    results = [(match, (2, 1))]
    version = BoardState.objects.get(tournament=tournament).version

    for answer in (3, 4, None, 4):
        request = _settle(question, answer, django_capture_on_commit_callbacks)
        assert request.status == "done" and request.answers_walked == 10
        expected = _expected(tournament, question, answer, results)
        assert standings(tournament) == expected
        assert _board(tournament) == {member_id: row[0] for member_id, row in expected.items()}
        assert standings_verify(tournament_id=tournament.id) == []

    # Four settlements that each moved someone: the boards' version moved with each.
    assert BoardState.objects.get(tournament=tournament).version >= version + 4
    # Points only: exact and outcome hits are the match's alone.
    assert {m: row[1:] for m, row in standings(tournament).items()} == {
        m: row[1:] for m, row in expected_totals(results).items()
    } | {m: (0, 0) for m in standings(tournament) if m not in expected_totals(results)}
    league_page = leaderboard_page(board=f"league:{league.id}", limit=10, offset=0)
    by_member = {row["member"]["id"]: row["points"] for row in league_page["rows"]}
    assert by_member == {m.id: Standing.objects.get(tournament=tournament, member=m).points for m in members[:4]}
    question.refresh_from_db()
    assert question.settled_version == question.answer_version == 4
    answer = BonusAnswer.objects.get(question=question, member=members[2])
    assert bonus_answer_points(question=question, answer=answer) == POINTS


def test_a_team_question_settles_the_members_who_named_the_team(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 4)
    teams = [TeamFactory(tournament=tournament) for _ in range(2)]
    question = _closed_question(tournament, kind="team", points=10)
    BonusAnswer.objects.bulk_create(
        BonusAnswer(question=question, member=m, team=t) for m, t in zip(members, [teams[0], teams[1], teams[0], teams[1]])
    )
    _settle(question, teams[1].id, django_capture_on_commit_callbacks)
    assert standings(tournament) == {members[1].id: (10, 0, 0), members[3].id: (10, 0, 0)}
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []


def test_a_question_settlement_stopped_after_its_first_batch_resumes_and_applies_each_answer_once(
    quiz, settings, monkeypatch
):
    tournament, match, question, members, _ = quiz
    settings.SETTLEMENT_BATCH_SIZE = 3
    # Run it by hand, not on commit, to stop it half-way.
    monkeypatch.setattr(outbox, "question_request_enqueue", lambda *, request_id: None)
    request = question_settle_now(question_id=question.id, answer=3)

    stopped = question_settlement_run(request_id=request.id, should_stop=lambda: True)
    assert stopped.outcome == "handed_back"
    half = QuestionSettlementRequest.objects.get(pk=request.pk)
    assert half.status == "pending" and half.answers_walked == 3 and half.cursor == members[2].id
    # What committed is exact: the batch below the cursor counts the answer, the rest does not yet.
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []

    assert question_settlement_run(request_id=request.id).outcome == "done"
    assert question_settlement_run(request_id=request.id).outcome == "noop"
    done = QuestionSettlementRequest.objects.get(pk=request.pk)
    assert done.answers_walked == 10 and done.attempts == 2
    assert standings(tournament) == _expected(tournament, question, 3, [(match, (2, 1))])
    assert standings_verify(tournament_id=tournament.id) == []


def test_a_newer_answer_supersedes_a_pending_request(quiz, monkeypatch):
    tournament, match, question, members, _ = quiz
    monkeypatch.setattr(outbox, "question_request_enqueue", lambda *, request_id: None)
    first = question_settle_now(question_id=question.id, answer=3)
    second = question_settle_now(question_id=question.id, answer=4)
    assert question_settlement_run(request_id=first.id).outcome == "noop"
    assert QuestionSettlementRequest.objects.get(pk=first.pk).status == "superseded"
    assert question_settlement_run(request_id=second.id).outcome == "done"
    assert standings(tournament) == _expected(tournament, question, 4, [(match, (2, 1))])
    assert standings_verify(tournament_id=tournament.id) == []


def test_verify_reports_a_standing_that_lost_its_bonus_points(quiz, django_capture_on_commit_callbacks):
    tournament, _, question, members, _ = quiz
    _settle(question, 3, django_capture_on_commit_callbacks)
    Standing.objects.filter(tournament=tournament, member=members[0]).update(points=0)
    differences = standings_verify(tournament_id=tournament.id, projection_too=False)
    assert [d.member_id for d in differences] == [members[0].id]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_settles_a_question_and_the_sweeper_resends_a_lost_one(tmp_path):
    tournament = TournamentFactory()
    people = Member.objects.bulk_create(Member(username=f"quiz-{tournament.pk}-{i}") for i in range(600))
    Standing.objects.bulk_create(Standing(tournament=tournament, member=m) for m in people)
    question = _closed_question(tournament)
    BonusAnswer.objects.bulk_create(BonusAnswer(question=question, member=m, number=i % 7) for i, m in enumerate(people))
    projection_write.projection_rebuild(tournament_id=tournament.id)
    # Written without a message (as if the broker lost it): only the sweeper can send it.
    BonusQuestion.objects.filter(pk=question.pk).update(correct_number=2, answer_version=1)
    request = QuestionSettlementRequest.objects.create(
        question=question, answer_version=1, idempotency_key=f"question:{question.pk}:1"
    )
    log = tmp_path / "worker.log"
    worker = worker_start(worker_env(SETTLEMENT_BATCH_SIZE=100, SETTLEMENT_STUCK_SECONDS=0), pool="solo", log=log)
    try:
        publish("apps.leaderboards.tasks.settlement_sweep")
        done = wait_until(
            lambda: (r := QuestionSettlementRequest.objects.get(pk=request.pk)).status == "done" and r,
            timeout=90,
            what="the swept question settlement",
        )
    finally:
        worker_stop(worker)
    assert done.answers_walked == 600, log.read_text()[-3000:]
    winners = {m.id for i, m in enumerate(people) if i % 7 == 2}
    assert set(standings(tournament)) == winners
    assert all(row == (POINTS, 0, 0) for row in standings(tournament).values())
    assert standings_verify(tournament_id=tournament.id) == []


def test_the_final_settles_the_questions_it_answers_once_and_closes_them(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 4)
    semi = match_in(tournament, kickoff_at=timezone.now() - timedelta(days=3))
    final = match_in(tournament, kickoff_at=timezone.now() - timedelta(hours=3))
    winner = BonusQuestion.objects.create(
        tournament=tournament, text="Who wins?", kind="team", points=10, answered_by="tournament_winner",
        closes_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    goals = _closed_question(tournament)
    BonusQuestion.objects.filter(pk=goals.pk).update(answered_by="final_goals")
    BonusAnswer.objects.bulk_create(
        [BonusAnswer(question=winner, member=m, team=t) for m, t in zip(members, [final.home_team, final.away_team] * 2)]
        + [BonusAnswer(question=goals, member=m, number=n) for m, n in zip(members, [6, 4, 6, 0])]
    )
    # The semi-final finished, the final not yet: nothing is answered.
    Match.objects.filter(pk=semi.pk).update(status="finished", home_score=1, away_score=0)
    assert bonus_questions_settle_from_final(tournament_id=tournament.id) == 0

    # 2-2, 3-3 after extra time, 4-2 on penalties: the home side wins, six goals.
    Match.objects.filter(pk=final.pk).update(
        status="finished", home_score=2, away_score=2, home_score_et=3, away_score_et=3,
        home_penalties=4, away_penalties=2,
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert bonus_questions_settle_from_final(tournament_id=tournament.id, actor="command:test") == 2
    winner.refresh_from_db()
    assert winner.correct_team_id == final.home_team_id and winner.closes_at <= timezone.now()
    assert standings(tournament) == {members[0].id: (15, 0, 0), members[2].id: (15, 0, 0)}
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []
    # Called again (a replay ending twice): nothing more.
    assert bonus_questions_settle_from_final(tournament_id=tournament.id) == 0


def test_a_failed_question_request_is_a_dead_letter_retried_from_the_admin(
    quiz, client, monkeypatch, django_capture_on_commit_callbacks
):
    tournament, match, question, members, _ = quiz
    real_apply = question_sql.AnswerPlan.apply

    def database_away(self, *, lo, hi):
        raise RuntimeError("a bad row")

    # Not a passing error: parked as failed at once, with its error, nothing applied.
    monkeypatch.setattr(question_sql.AnswerPlan, "apply", database_away)
    request = _settle(question, 3, django_capture_on_commit_callbacks)
    assert request.status == "failed" and "a bad row" in request.last_error
    assert standings(tournament) == _expected(tournament, question, None, [(match, (2, 1))])
    monkeypatch.setattr(question_sql.AnswerPlan, "apply", real_apply)

    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    listing = client.get("/admin/leaderboards/questionsettlementrequest/?status__exact=failed")
    assert listing.status_code == 200 and request.idempotency_key in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/leaderboards/questionsettlementrequest/", {"action": "retry", "_selected_action": [request.pk]}
        )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "done"
    assert standings(tournament) == _expected(tournament, question, 3, [(match, (2, 1))])
    assert standings_verify(tournament_id=tournament.id) == []
    assert client.get("/admin/matches/bonusquestion/").status_code == 200
    assert client.get("/admin/matches/bonusquestion/add/").status_code == 200


def test_the_orm_path_gives_the_same_standings_as_the_sql_path(quiz, monkeypatch, django_capture_on_commit_callbacks):
    """The embedded SQLite default settles questions through the ORM; same rows, same standings."""
    tournament, match, question, members, _ = quiz
    monkeypatch.setattr(
        question_sql.AnswerPlan, "apply", lambda self, *, lo, hi: self._apply_portable(lo=lo, hi=hi)
    )
    for answer in (3, 4, None):
        _settle(question, answer, django_capture_on_commit_callbacks)
        assert standings(tournament) == _expected(tournament, question, answer, [(match, (2, 1))])
        assert standings_verify(tournament_id=tournament.id) == []


def test_new_points_on_a_settled_question_resettle_it_and_a_closed_question_keeps_its_kind_and_closing_time(
    quiz, django_capture_on_commit_callbacks
):
    tournament, match, question, members, _ = quiz
    _settle(question, 3, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        bonus_question_update(question_id=question.id, changes={"points": 8, "text": "Goals, exactly?"})
    question.refresh_from_db()
    assert (question.points, question.answer_version, question.settled_version) == (8, 2, 2)
    assert standings(tournament) == _expected(tournament, question, 3, [(match, (2, 1))])
    assert standings_verify(tournament_id=tournament.id) == []

    with pytest.raises(Conflict) as closed:
        bonus_question_update(question_id=question.id, changes={"closes_at": timezone.now() + timedelta(days=1)})
    assert closed.value.code == "question_closed"
    with pytest.raises(Conflict) as answered:
        bonus_question_update(question_id=question.id, changes={"kind": "team"})
    assert answered.value.code == "question_answered"
