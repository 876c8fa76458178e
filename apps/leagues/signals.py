"""What the leagues app tells others. Sent inside the transaction that made the change.

`league_membership_changed(league_id, tournament_id, member_id, joined)`: a
member joined (`joined=True`) or left / was removed (`joined=False`). The
leaderboards drop the league's projection and close the removed member's
live streams; receivers that touch anything outside the database must wait
for the commit (`transaction.on_commit`).
"""

from django.dispatch import Signal

league_membership_changed = Signal()
