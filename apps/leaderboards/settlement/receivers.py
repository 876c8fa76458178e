"""Settlement listens to matches: a new participant gets a standing, a result or correct-answer change a request.

Every receiver runs inside the sender's transaction, so what they write
commits or rolls back with the change that caused it.
"""

from django.dispatch import receiver

from apps.leaderboards.settlement.outbox import question_request_write, settlement_request_write
from apps.leaderboards.settlement.standings import standing_open
from apps.matches.signals import participant_joined, question_settlement_asked, settlement_asked


@receiver(participant_joined, dispatch_uid="settlement.standing_open")
def participant_standing_open(*, tournament_id: int, member_id: int, **kwargs) -> None:
    standing_open(tournament_id=tournament_id, member_id=member_id)


@receiver(settlement_asked, dispatch_uid="settlement.request_write")
def settlement_request_on_ask(*, match, kind: str, **kwargs) -> None:
    settlement_request_write(match=match, kind=kind)


@receiver(question_settlement_asked, dispatch_uid="settlement.question_request_write")
def question_request_on_ask(*, question, **kwargs) -> None:
    question_request_write(question=question)
