"""The demo loader: two tournaments, members who guess, leagues and (only where asked) a staff account, loaded once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from apps.guesses.models import Guess
from apps.leaderboards.models import Standing
from apps.leagues.models import League, LeagueMembership
from apps.matches.models import BonusAnswer, BonusQuestion, Match, Participation, Tournament
from apps.members.models import Member

MEMBERS = 12

pytestmark = pytest.mark.django_db


def _load(**options) -> str:
    out = StringIO()
    call_command("load_demo", members=MEMBERS, stdout=out, **options)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {
        "members": Member.objects.count(),
        "tournaments": Tournament.objects.count(),
        "matches": Match.objects.count(),
        "participations": Participation.objects.count(),
        "standings": Standing.objects.count(),
        "guesses": Guess.objects.count(),
        "leagues": League.objects.count(),
        "league_members": LeagueMembership.objects.count(),
    }


def test_demo_loads_both_world_cups_with_members_who_guess_every_open_match():
    before = timezone.now()

    output = _load(allow_demo_admin=True)

    world_cup = Tournament.objects.get(slug="world-cup-2026")
    replay = Tournament.objects.get(slug="world-cup-2022-replay")
    assert replay.name == "World Cup 2022 (replay)"
    assert Match.objects.filter(tournament=world_cup).count() == 104
    assert Match.objects.filter(tournament=replay).count() == 64

    first_kickoff = Match.objects.filter(tournament=world_cup).order_by("kickoff_at").first().kickoff_at
    assert before + timedelta(minutes=55) <= first_kickoff <= timezone.now() + timedelta(minutes=61)

    demo_members = Member.objects.filter(username__startswith="demo")
    assert demo_members.count() == MEMBERS
    assert all(member.display_name for member in demo_members)
    for tournament in (world_cup, replay):
        open_matches = Match.objects.filter(
            tournament=tournament, status=Match.Status.SCHEDULED, kickoff_at__gt=timezone.now()
        ).count()
        assert open_matches > 0
        assert Guess.objects.filter(match__tournament=tournament).count() == MEMBERS * open_matches
        assert Standing.objects.filter(tournament=tournament, member__in=demo_members).count() == MEMBERS
        assert Participation.objects.filter(tournament=tournament, member__in=demo_members).count() == MEMBERS

    assert League.objects.filter(tournament=world_cup).count() == 2
    assert League.objects.filter(tournament=replay).count() == 1
    for league in League.objects.all():
        assert league.memberships.filter(member=league.owner).exists()

    admin = Member.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password("scoreboard-demo-admin")
    assert "scoreboard-demo-admin" in output


def test_loading_the_demo_twice_changes_and_duplicates_nothing():
    _load()
    counts = _counts()
    kickoffs = list(Match.objects.order_by("pk").values_list("pk", "kickoff_at"))
    guesses = list(Guess.objects.order_by("pk").values_list("pk", "home_goals", "away_goals"))

    _load()

    assert _counts() == counts
    assert list(Match.objects.order_by("pk").values_list("pk", "kickoff_at")) == kickoffs
    assert list(Guess.objects.order_by("pk").values_list("pk", "home_goals", "away_goals")) == guesses


def test_the_demo_admin_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-chosen-demo-password")

    output = _load(allow_demo_admin=True)

    assert Member.objects.get(username="admin").check_password("a-chosen-demo-password")
    assert "a-chosen-demo-password" in output


def test_with_debug_off_the_demo_loads_everything_but_the_admin_and_says_how_to_get_one(settings):
    settings.DEBUG = False

    output = _load()

    assert not Member.objects.filter(username="admin").exists()
    assert not Member.objects.filter(is_staff=True).exists()
    assert "scoreboard-demo-admin" not in output
    assert "createsuperuser" in output and "--allow-demo-admin" in output
    assert Member.objects.filter(username__startswith="demo").count() == MEMBERS
    assert League.objects.count() == 3
    assert Guess.objects.exists()


def test_with_debug_on_the_demo_creates_the_admin_as_make_run_does(settings):
    settings.DEBUG = True

    output = _load()

    admin = Member.objects.get(username="admin")
    assert admin.is_staff and admin.check_password("scoreboard-demo-admin")
    assert "scoreboard-demo-admin" in output


def test_demo_members_play_jokers_within_the_allowance():
    _load()
    jokers = Guess.objects.filter(joker=True)
    assert jokers.exists()
    per_round = jokers.values("member_id", "match__round_id").annotate(n=Count("id")).values_list("n", flat=True)
    assert max(per_round) <= min(Tournament.objects.values_list("jokers_per_round", flat=True))


def test_the_demo_asks_two_questions_per_tournament_that_every_member_answers_once():
    _load()
    answers = BonusAnswer.objects.count()
    for tournament in Tournament.objects.filter(slug__in=["world-cup-2026", "world-cup-2022-replay"]):
        questions = {q.answered_by: q for q in BonusQuestion.objects.filter(tournament=tournament)}
        assert set(questions) == {"tournament_winner", "final_goals"}
        winner, goals = questions["tournament_winner"], questions["final_goals"]
        assert (winner.kind, goals.kind) == ("team", "number")
        assert winner.answers.filter(team__tournament=tournament).count() == MEMBERS
        assert goals.answers.filter(number__isnull=False).count() == MEMBERS
        first = Match.objects.filter(tournament=tournament).order_by("kickoff_at").first()
        assert winner.closes_at == first.kickoff_at

    _load()
    assert BonusAnswer.objects.count() == answers and BonusQuestion.objects.count() == 4
