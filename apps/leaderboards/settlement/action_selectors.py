"""Reads of the score-action catalogue."""

from django.db.models import QuerySet

from apps.common.errors import NotFound
from apps.leaderboards.models import ScoreAction
from apps.matches.models import Tournament


def score_action_list(*, tournament_id: int) -> QuerySet[ScoreAction]:
    if not Tournament.objects.filter(pk=tournament_id).exists():
        raise NotFound("tournament_not_found", "No tournament has this id.")
    return ScoreAction.objects.filter(tournament_id=tournament_id, is_active=True).order_by("code")
