"""Matches in play as the boards count them: the `live` and `live_matches` of every board answer.

A match is in play on the boards while the last settlement request started
for it (claimed, running or done) applies a score in play (`applied_live`),
with that request's score: not the match row's newest score, which may still
wait in the queue. The list moves when a request is claimed, before its first
batch: every update the live top 10 sends while the boards follow that score
already finds it in the answers (a page reloads them on each update), and a
score still waiting for a worker is not shown.
"""

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.leaderboards.models import BoardState, SettlementRequest
from apps.matches.models import Match


def live_matches_counted(*, tournament_id: int) -> list[dict]:
    """[{id, home_score, away_score}] of the tournament's matches whose points on the boards are live, by kickoff."""
    last_started = (
        SettlementRequest.objects.filter(match_id=OuterRef("pk"), started_at__isnull=False)
        .exclude(status=SettlementRequest.Status.SUPERSEDED)
        .order_by("-started_at", "-id")
    )
    matches = (
        # Only matches settlement was ever asked about can hold points.
        Match.objects.filter(tournament_id=tournament_id)
        .exclude(settlement_kind="")
        .annotate(
            live=Subquery(last_started.values("applied_live")[:1]),
            home=Subquery(last_started.values("applied_home")[:1]),
            away=Subquery(last_started.values("applied_away")[:1]),
        )
        .filter(live=True)
        .order_by("kickoff_at", "id")
        .values_list("id", "home", "away")
    )
    return [{"id": match_id, "home_score": home, "away_score": away} for match_id, home, away in matches]


def live_matches_refresh(*, tournament_id: int) -> BoardState | None:
    """Record the tournament's matches in play once a request is claimed; the new state when they changed.

    Called under the tournament lock, after the claim commits. A change moves
    the boards' version, so every cached page and ETag of the tournament turns
    over with it (a kickoff or a final whistle that moves no standing still
    changes what each answer says).
    """
    counted = live_matches_counted(tournament_id=tournament_id)
    with transaction.atomic():
        state, _ = BoardState.objects.select_for_update().get_or_create(tournament_id=tournament_id)
        if state.live_matches == counted:
            return None
        state.live_matches = counted
        state.version += 1
        state.as_of = timezone.now()
        state.save(update_fields=["live_matches", "version", "as_of"])
    return state
