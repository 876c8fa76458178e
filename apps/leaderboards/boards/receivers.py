"""Boards listen to leagues: a league's Redis set is dropped when its membership changes."""

from django.db import transaction
from django.dispatch import receiver

from apps.leaderboards.boards.projection_write import projection_league_invalidate
from apps.leagues.signals import league_membership_changed


@receiver(league_membership_changed, dispatch_uid="boards.league_set_invalidate")
def league_set_invalidate(*, league_id: int, tournament_id: int, **kwargs) -> None:
    # The set no longer matches the league's members: drop it once the change
    # commits (a rolled-back change keeps it); the next read rebuilds it.
    transaction.on_commit(lambda: projection_league_invalidate(tournament_id=tournament_id, league_id=league_id))
