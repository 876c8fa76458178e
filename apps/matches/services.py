"""Writes about tournaments: taking part."""

from django.db import transaction

from apps.leaderboards.services.standings import standing_open
from apps.matches.models import Participation
from apps.matches.selectors import tournament_get


def participation_join(*, tournament_id: int, member_id: int) -> Participation:
    """Make the member a participant of the tournament; joining again returns the first participation.

    The participation and the zero standing commit together, so every
    participant is on the boards and nobody is on a board without taking part.
    """
    with transaction.atomic():
        participation, _ = Participation.objects.get_or_create(tournament_id=tournament_id, member_id=member_id)
        # Also on a repeated join: opening is idempotent and heals a participant left without a standing.
        standing_open(tournament_id=tournament_id, member_id=member_id)
    return participation


def tournament_join(*, tournament_id: int, member_id: int) -> Participation:
    """The join endpoint: NotFound for an unknown tournament, else `participation_join`."""
    tournament_get(tournament_id=tournament_id)
    return participation_join(tournament_id=tournament_id, member_id=member_id)
