import pytest

from tests.factories import PASSWORD, GuessFactory, MemberFactory


@pytest.mark.django_db
def test_factories_build_a_guess_on_a_match_between_two_teams_of_one_tournament():
    guess = GuessFactory()
    match = guess.match
    assert match.home_team.tournament_id == match.tournament_id == match.away_team.tournament_id
    assert match.round.tournament_id == match.tournament_id
    assert match.home_team_id != match.away_team_id


@pytest.mark.django_db
def test_member_factory_sets_a_usable_password():
    member = MemberFactory()
    member.refresh_from_db()
    assert member.check_password(PASSWORD)
