"""Once members have seen each other's guesses on a match, its guess window never reopens.

The window closes at kickoff - lock_minutes; a postponed match (its kickoff
moved later by the feed) or a lower lock_minutes would open it again, which
SCORING.md allows only for a match whose guesses were never shown.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.ingestion.services import ingestion_run
from apps.matches.models import Match, Tournament
from apps.matches.services import tournament_scoring_update
from tests.common.api import assert_error, member_client
from tests.factories import GuessFactory, MatchFactory, MemberFactory
from tests.ingestion.conftest import write_json

pytestmark = pytest.mark.django_db

SLUG = "reveal-cup"


def _ingest_fixture(tmp_path, kickoff) -> Match:
    """The provider's view of one match kicking off at `kickoff`, ingested as fixtures."""
    feed = {
        "name": "Reveal Cup",
        "matches": [
            {
                "round": "Group A",
                "date": kickoff.strftime("%Y-%m-%d"),
                "time": kickoff.strftime("%H:%M UTC"),
                "team1": "Alpha",
                "team2": "Beta",
            }
        ],
    }
    execution = ingestion_run(
        provider="openfootball",
        source=str(write_json(tmp_path / "reveal-cup.json", feed)),
        tournament_slug=SLUG,
        operation="fixtures",
    )
    assert execution.status == execution.Status.COMPLETED, execution.error
    return Match.objects.get(tournament__slug=SLUG)


@pytest.fixture
def locked_match(tmp_path):
    """A scheduled match 30 minutes from kickoff in a tournament that locks 60 minutes before: closed, one guess in."""
    kickoff = (timezone.now() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    match = _ingest_fixture(tmp_path, kickoff)
    Tournament.objects.filter(slug=SLUG).update(lock_minutes=60)
    GuessFactory(match=match, home_goals=3, away_goals=1)
    return match


def _put_guess(client, match):
    return client.put(f"/api/v1/matches/{match.id}/guess", {"home_goals": 3, "away_goals": 1}, format="json")


def test_a_match_postponed_after_its_guesses_were_shown_stays_locked(tmp_path, locked_match):
    copier = member_client(MemberFactory())
    shown = copier.get(f"/api/v1/matches/{locked_match.id}/guesses")
    assert shown.status_code == 200, shown.content
    assert [(g["home_goals"], g["away_goals"]) for g in shown.json()["results"]] == [(3, 1)]

    postponed = _ingest_fixture(tmp_path, locked_match.kickoff_at + timedelta(days=7))
    assert postponed.pk == locked_match.pk
    assert postponed.kickoff_at == locked_match.kickoff_at + timedelta(days=7)

    assert_error(_put_guess(copier, locked_match), 409, "match_locked")
    assert copier.get(f"/api/v1/matches/{locked_match.id}").json()["locked"] is True
    # Everyone's guesses stay visible: the window is closed for good.
    assert copier.get(f"/api/v1/matches/{locked_match.id}/guesses").status_code == 200


def test_a_match_postponed_before_anyone_saw_its_guesses_opens_again_at_the_new_kickoff(tmp_path, locked_match):
    member = member_client(MemberFactory())
    assert_error(_put_guess(member, locked_match), 409, "match_locked")

    _ingest_fixture(tmp_path, locked_match.kickoff_at + timedelta(days=7))

    assert _put_guess(member, locked_match).status_code == 201
    assert member.get(f"/api/v1/matches/{locked_match.id}").json()["locked"] is False


def test_lowering_lock_minutes_after_the_guesses_were_shown_does_not_reopen_the_window(locked_match):
    copier = member_client(MemberFactory())
    assert copier.get(f"/api/v1/matches/{locked_match.id}/guesses").status_code == 200

    tournament_scoring_update(tournament_id=locked_match.tournament_id, changes={"lock_minutes": 0})

    assert_error(_put_guess(copier, locked_match), 409, "match_locked")


def test_asking_for_the_guesses_of_an_open_match_reveals_nothing_and_keeps_it_open():
    match = MatchFactory(kickoff_at=timezone.now() + timedelta(days=1))
    member = member_client(MemberFactory())

    assert_error(member.get(f"/api/v1/matches/{match.id}/guesses"), 403, "match_not_locked")

    match.refresh_from_db()
    assert match.guesses_revealed_at is None
    assert _put_guess(member, match).status_code == 201


def test_the_first_reveal_is_the_one_recorded(locked_match):
    client = member_client(MemberFactory())
    client.get(f"/api/v1/matches/{locked_match.id}/guesses")
    locked_match.refresh_from_db()
    first = locked_match.guesses_revealed_at

    client.get(f"/api/v1/matches/{locked_match.id}/guesses")

    locked_match.refresh_from_db()
    assert first is not None and locked_match.guesses_revealed_at == first
