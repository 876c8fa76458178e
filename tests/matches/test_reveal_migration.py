"""The migration that adds guesses_revealed_at treats matches whose guesses may already have been shown as revealed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("matches", "0003_match_result_by_hand"), ("guesses", "0003_initial")]
AFTER = [("matches", "0004_match_guesses_revealed_at"), ("guesses", "0003_initial")]


def _migrate(targets):
    """Migrate to `targets` (what depends on them is unapplied) and return the models as they were then."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest_after():
    """Whatever the test does, the database goes back to every app's latest migration."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_matches_with_guesses_and_a_closed_window_count_as_revealed_and_open_ones_do_not(latest_after):
    apps = _migrate(BEFORE)
    Tournament, Round, Team, Match = (apps.get_model("matches", name) for name in ("Tournament", "Round", "Team", "Match"))
    Guess, Member = apps.get_model("guesses", "Guess"), apps.get_model("members", "Member")
    now = timezone.now()
    tournament = Tournament.objects.create(name="Old Cup", slug="old-cup", lock_minutes=60)
    round_ = Round.objects.create(tournament=tournament, name="Final", name_key="final")
    home = Team.objects.create(tournament=tournament, name="Home", name_key="home")
    away = Team.objects.create(tournament=tournament, name="Away", name_key="away")
    member = Member.objects.create(username="old-member")

    def match(kickoff, status="scheduled", guessed=True):
        created = Match.objects.create(
            tournament=tournament, round=round_, home_team=home, away_team=away, kickoff_at=kickoff, status=status
        )
        if guessed:
            Guess.objects.create(match=created, member=member, home_goals=1, away_goals=0)
        return created.pk

    inside_lock = match(now + timedelta(minutes=30))  # scheduled, but within lock_minutes of kickoff
    postponed = match(now + timedelta(days=3), status="postponed")
    finished = match(now - timedelta(days=1), status="finished")
    open_ = match(now + timedelta(days=3))
    nobody_guessed = match(now - timedelta(days=1), status="finished", guessed=False)

    apps = _migrate(AFTER)

    revealed = dict(apps.get_model("matches", "Match").objects.values_list("pk", "guesses_revealed_at"))
    assert all(revealed[pk] is not None for pk in (inside_lock, postponed, finished))
    assert revealed[open_] is None
    assert revealed[nobody_guessed] is None
