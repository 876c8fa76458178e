"""How everyone guessed (API.md "guesses/summary"): hidden until the lock, then counted once and served from the cache."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.guesses.models import Guess, GuessSummary
from apps.matches.models import Match
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import MatchFactory, MemberFactory

pytestmark = pytest.mark.django_db

# Scores and how many guessed each: ties at 3 (2-1, 1-0, 0-0 and 1-1) and at 1, 12 distinct scores in all.
PICKS = {(2, 1): 3, (1, 0): 3, (0, 0): 3, (1, 1): 3, (0, 2): 2, (3, 3): 2, (4, 0): 1, (0, 1): 1, (2, 2): 1,
         (5, 1): 1, (1, 3): 1, (9, 9): 1}


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def match():
    match = MatchFactory(kickoff_at=timezone.now() + timedelta(hours=2))
    members = MemberFactory.create_batch(sum(PICKS.values()))
    picks = [score for score, count in PICKS.items() for _ in range(count)]
    Guess.objects.bulk_create(
        Guess(match=match, member=member, home_goals=h, away_goals=a) for member, (h, a) in zip(members, picks)
    )
    return match


def _url(match) -> str:
    return f"/api/v1/matches/{match.id}/guesses/summary"


def _lock(match, *, revealed_ago: timedelta | None = None) -> None:
    """Close the window; `revealed_ago`: everyone's guesses were first shown that long ago."""
    revealed_at = timezone.now() - revealed_ago if revealed_ago is not None else None
    Match.objects.filter(pk=match.pk).update(
        kickoff_at=timezone.now() - timedelta(minutes=1), guesses_revealed_at=revealed_at
    )


def _expected(match) -> dict:
    counts = Counter((g.home_goals, g.away_goals) for g in Guess.objects.filter(match=match))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "total": sum(counts.values()),
        "home_win": sum(n for (h, a), n in counts.items() if h > a),
        "draw": sum(n for (h, a), n in counts.items() if h == a),
        "away_win": sum(n for (h, a), n in counts.items() if h < a),
        "jokers": 0,
        "top_scores": [{"home_goals": h, "away_goals": a, "count": n} for (h, a), n in ordered[:10]],
    }


def test_the_summary_is_hidden_until_the_match_locks(match):
    client = member_client(MemberFactory())
    assert_error(client.get(_url(match)), 403, "match_not_locked")
    # A refusal records nothing: the window stays open.
    match.refresh_from_db()
    assert match.guesses_revealed_at is None
    assert not GuessSummary.objects.exists()


def test_after_the_lock_the_summary_equals_a_count_over_the_guesses_with_ties_in_order(match):
    _lock(match)
    response = member_client(MemberFactory()).get(_url(match))
    assert response.status_code == 200
    body = response.json()
    assert body == _expected(match)
    assert body["total"] == 22 and body["home_win"] + body["draw"] + body["away_win"] == 22
    # Ties at 1 fill the last places the same way: (0, 1), (1, 3), (2, 2), (4, 0) in, (5, 1) and (9, 9) out.
    assert [(s["home_goals"], s["away_goals"]) for s in body["top_scores"][6:]] == [(0, 1), (1, 3), (2, 2), (4, 0)]
    # Four scores tie at 3: listed by home goals, then away goals.
    assert [(s["home_goals"], s["away_goals"]) for s in body["top_scores"][:4]] == [(0, 0), (1, 0), (1, 1), (2, 1)]
    assert len(body["top_scores"]) == 10
    # Reading it closed the window for good, like the list of guesses.
    match.refresh_from_db()
    assert match.guesses_revealed_at is not None


def test_counted_once_then_served_from_the_cache_without_sql(match):
    _lock(match, revealed_ago=timedelta(minutes=1))
    client = member_client(MemberFactory())
    first = client.get(_url(match)).json()
    with CaptureQueriesContext(connection) as queries:
        again = client.get(_url(match))
    assert again.status_code == 200 and again.json() == first
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_a_lost_cache_entry_is_read_back_from_the_stored_summary_not_counted_again(match):
    _lock(match, revealed_ago=timedelta(minutes=1))
    client = member_client(MemberFactory())
    first = client.get(_url(match)).json()
    cache.clear()
    # A guess appearing now (nothing writes one after the lock) would show if the summary were counted again.
    Guess.objects.create(match=match, member=MemberFactory(), home_goals=7, away_goals=0)
    assert client.get(_url(match)).json() == first
    assert GuessSummary.objects.get(match=match).total == first["total"]


def test_a_count_right_after_the_reveal_is_served_but_kept_only_once_late_guesses_have_landed(match):
    _lock(match)
    client = member_client(MemberFactory())
    first = client.get(_url(match)).json()
    assert first["total"] == 22
    assert not GuessSummary.objects.exists()
    # A guess whose request found the window open just before the reveal commits now: it counts.
    Guess.objects.create(match=match, member=MemberFactory(), home_goals=7, away_goals=0)
    Match.objects.filter(pk=match.pk).update(guesses_revealed_at=timezone.now() - timedelta(seconds=6))
    assert client.get(_url(match)).json()["total"] == 23
    assert GuessSummary.objects.get(match=match).total == 23


def test_the_summary_needs_a_token_and_a_known_match(match):
    assert_error(anonymous_client().get(_url(match)), 401)
    assert_error(member_client(MemberFactory()).get("/api/v1/matches/999999/guesses/summary"), 404, "match_not_found")


def test_a_match_nobody_guessed_has_an_empty_summary():
    match = MatchFactory(kickoff_at=timezone.now() - timedelta(minutes=5), status=Match.Status.LIVE)
    body = member_client(MemberFactory()).get(_url(match)).json()
    assert body == {"total": 0, "home_win": 0, "draw": 0, "away_win": 0, "jokers": 0, "top_scores": []}
