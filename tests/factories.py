"""factory_boy factories shared by the whole suite."""

from datetime import timedelta

import factory
from django.utils import timezone

from apps.common.names import name_key
from apps.guesses.models import Guess
from apps.leagues.models import League, LeagueMembership
from apps.matches.models import Match, Participation, Round, Team, Tournament
from apps.members.models import Member

PASSWORD = "correct-horse-battery-staple"


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"member{n}")
    display_name = factory.LazyAttribute(lambda o: o.username.title())
    # As the member services keep them (`member_names_fold`).
    display_name_key = factory.LazyAttribute(lambda o: name_key(o.display_name or o.username))
    username_key = factory.LazyAttribute(lambda o: name_key(o.username))
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create and results:
            instance.save(update_fields=["password"])


class TournamentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tournament

    name = factory.Sequence(lambda n: f"Cup {n}")
    slug = factory.Sequence(lambda n: f"cup-{n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(days=30))


def _fold(name: str) -> str:
    return name.casefold()


class RoundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Round

    tournament = factory.SubFactory(TournamentFactory)
    name = factory.Sequence(lambda n: f"Matchday {n}")
    name_key = factory.LazyAttribute(lambda o: _fold(o.name))
    order = factory.Sequence(lambda n: n)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    tournament = factory.SubFactory(TournamentFactory)
    name = factory.Sequence(lambda n: f"Team {n}")
    name_key = factory.LazyAttribute(lambda o: _fold(o.name))
    code = factory.Sequence(lambda n: f"T{n:02d}"[:8])


class MatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Match

    tournament = factory.SubFactory(TournamentFactory)
    round = factory.SubFactory(RoundFactory, tournament=factory.SelfAttribute("..tournament"))
    home_team = factory.SubFactory(TeamFactory, tournament=factory.SelfAttribute("..tournament"))
    away_team = factory.SubFactory(TeamFactory, tournament=factory.SelfAttribute("..tournament"))
    kickoff_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))
    status = Match.Status.SCHEDULED


class ParticipationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participation

    tournament = factory.SubFactory(TournamentFactory)
    member = factory.SubFactory(MemberFactory)


class GuessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Guess

    match = factory.SubFactory(MatchFactory)
    member = factory.SubFactory(MemberFactory)
    home_goals = 1
    away_goals = 0


class LeagueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = League

    tournament = factory.SubFactory(TournamentFactory)
    name = factory.Sequence(lambda n: f"League {n}")
    owner = factory.SubFactory(MemberFactory)
    invite_code = factory.Sequence(lambda n: f"CODE{n:06d}")


class LeagueMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeagueMembership

    league = factory.SubFactory(LeagueFactory)
    member = factory.SubFactory(MemberFactory)
