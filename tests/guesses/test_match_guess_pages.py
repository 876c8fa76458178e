"""A match's guesses page by limit and offset up to a cap; a deeper offset is a clear 400."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.common.api import assert_error, member_client
from tests.factories import GuessFactory, MatchFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def locked_match():
    match = MatchFactory(kickoff_at=timezone.now() - timedelta(minutes=5))
    GuessFactory.create_batch(3, match=match)
    return match


def test_an_offset_past_the_cap_answers_400_offset_too_large(locked_match):
    viewer = member_client(MemberFactory())

    response = viewer.get(f"/api/v1/matches/{locked_match.id}/guesses?offset=10001")

    body = assert_error(response, 400, "offset_too_large")
    assert "10000" in body["detail"]


def test_offsets_up_to_the_cap_keep_the_page_envelope(locked_match):
    viewer = member_client(MemberFactory())

    first = viewer.get(f"/api/v1/matches/{locked_match.id}/guesses?limit=2").json()
    at_cap = viewer.get(f"/api/v1/matches/{locked_match.id}/guesses?offset=10000").json()

    assert set(first) == {"count", "next", "previous", "results"} and first["count"] == 3
    assert len(first["results"]) == 2 and "offset=2" in first["next"]
    assert at_cap["count"] == 3 and at_cap["results"] == []


def test_other_lists_keep_any_offset():
    viewer = member_client(MemberFactory())

    assert viewer.get("/api/v1/me/guesses?offset=50000").status_code == 200
