import pytest

from tests.factories import TournamentFactory
from tests.leaderboards.helpers import finish, guesses, match_in, players

# Against 2-1: two exact, two goal difference, one outcome, the rest nothing.
PICKS = [(2, 1), (1, 0), (3, 2), (1, 1), (0, 0), (0, 2), (2, 1), (4, 1), (1, 2), (2, 2)]


@pytest.fixture
def cup(django_capture_on_commit_callbacks):
    """A tournament with one settled match (2-1) and ten guesses on it."""
    tournament = TournamentFactory()
    members = players(tournament, len(PICKS))
    match = match_in(tournament)
    guesses(match, dict(zip(members, PICKS)))
    with django_capture_on_commit_callbacks(execute=True):
        match, _ = finish(match, 2, 1)
    return tournament, match, members
