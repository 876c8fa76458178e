"""Reads about leagues."""

from django.db.models import Count, QuerySet, Sum

from apps.common.errors import Forbidden, NotFound
from apps.leagues.models import League, LeagueMembership


def _leagues() -> QuerySet[League]:
    return League.objects.select_related("owner").annotate(member_count=Count("memberships"))


def league_is_member(*, league_id: int, member_id: int) -> bool:
    return LeagueMembership.objects.filter(league_id=league_id, member_id=member_id).exists()


def league_get_for_member(*, league_id: int, member_id: int) -> League:
    """The league as its members see it: NotFound for an unknown id, Forbidden for anyone else."""
    league = _leagues().filter(pk=league_id).first()
    if league is None:
        raise NotFound("league_not_found", "No league has this id.")
    if not league_is_member(league_id=league.pk, member_id=member_id):
        raise Forbidden("not_league_member", "Only members of this league can see it.")
    return league


def league_list_for_member(*, member_id: int, tournament_id: int | None = None) -> QuerySet[League]:
    league_ids = LeagueMembership.objects.filter(member_id=member_id).values("league_id")
    queryset = _leagues().filter(pk__in=league_ids)
    if tournament_id is not None:
        queryset = queryset.filter(tournament_id=tournament_id)
    return queryset.order_by("id")


def league_membership_fingerprint(*, league_id: int) -> tuple[int, int]:
    """(number of members, sum of their ids): changes with any join or leave, also a swap of members."""
    now = LeagueMembership.objects.filter(league_id=league_id).aggregate(n=Count("member_id"), s=Sum("member_id"))
    return now["n"], now["s"] or 0


def league_tournament_id(*, league_id: int) -> int | None:
    """The tournament a league belongs to; None for an unknown league."""
    return League.objects.filter(pk=league_id).values_list("tournament_id", flat=True).first()


def league_ids_of_member(*, member_id: int, tournament_id: int) -> list[int]:
    """The leagues of one tournament the member belongs to."""
    return list(
        LeagueMembership.objects.filter(member_id=member_id, league__tournament_id=tournament_id).values_list(
            "league_id", flat=True
        )
    )
