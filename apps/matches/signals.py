"""What the matches app tells others. Both are sent inside the transaction of the change.

- `participant_joined(tournament_id, member_id)`: a member takes part in a
  tournament (also sent again on a repeated join: receivers are idempotent).
  The leaderboards open the member's zero standing in the same transaction.
- `settlement_asked(match, kind)`: a result change (or a scoring change)
  moved the match's `result_version`; `kind` is a `SettlementKind`. The
  leaderboards write the settlement request in the same transaction, so the
  change and the request commit or roll back together.
"""

from django.dispatch import Signal

participant_joined = Signal()
settlement_asked = Signal()

# `question_settlement_asked(question)`: a bonus question's correct answer was
# set, changed or cleared (its `answer_version` moved). The leaderboards write
# the question's settlement request in the same transaction.
question_settlement_asked = Signal()
