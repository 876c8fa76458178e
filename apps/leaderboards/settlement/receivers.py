"""Settlement listens to matches: a new participant gets a standing, a result change a settlement request.

Both receivers run inside the sender's transaction, so what they write
commits or rolls back with the change that caused it.
"""

from django.dispatch import receiver

from apps.leaderboards.settlement.outbox import settlement_request_write
from apps.leaderboards.settlement.standings import standing_open
from apps.matches.signals import participant_joined, settlement_asked


@receiver(participant_joined, dispatch_uid="settlement.standing_open")
def participant_standing_open(*, tournament_id: int, member_id: int, **kwargs) -> None:
    standing_open(tournament_id=tournament_id, member_id=member_id)


@receiver(settlement_asked, dispatch_uid="settlement.request_write")
def settlement_request_on_ask(*, match, kind: str, **kwargs) -> None:
    settlement_request_write(match=match, kind=kind)
