"""Boards listen to leagues and members: a league's Redis set is dropped when its membership changes,
a member's cached display name when the member is saved."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.leaderboards.boards.projection_write import projection_league_invalidate, projection_member_name_forget
from apps.leagues.signals import league_membership_changed
from apps.members.models import Member


@receiver(league_membership_changed, dispatch_uid="boards.league_set_invalidate")
def league_set_invalidate(*, league_id: int, tournament_id: int, **kwargs) -> None:
    # The set no longer matches the league's members: drop it once the change
    # commits (a rolled-back change keeps it); the next read rebuilds it.
    transaction.on_commit(lambda: projection_league_invalidate(tournament_id=tournament_id, league_id=league_id))


@receiver(post_save, sender=Member, dispatch_uid="boards.member_name_forget")
def member_name_forget(*, instance: Member, created: bool, update_fields=None, **kwargs) -> None:
    # Boards cache display names in Redis: a saved member (maybe renamed) has
    # theirs dropped once the save commits, and each of their tournaments'
    # name generation bumped, so cached pages and their ETags change too.
    if created or (update_fields is not None and not {"display_name", "username"} & set(update_fields)):
        return
    member_id = instance.pk
    transaction.on_commit(lambda: projection_member_name_forget(member_id=member_id))
