from django.conf import settings
from django.db import models

from apps.common.models import TimeStampedModel


class League(TimeStampedModel):
    """A private group inside a tournament, joined with an invite code."""

    tournament = models.ForeignKey("matches.Tournament", on_delete=models.CASCADE, related_name="leagues")
    name = models.CharField(max_length=64)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_leagues")
    invite_code = models.CharField(max_length=32, unique=True)

    class Meta:
        # The table keeps the name it had when leagues lived in the leaderboards app.
        db_table = "leaderboards_league"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class LeagueMembership(models.Model):
    league = models.ForeignKey(League, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="league_memberships")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "leaderboards_leaguemembership"
        constraints = [models.UniqueConstraint(fields=["league", "member"], name="league_membership_unique")]
        indexes = [models.Index(fields=["member", "league"], name="league_membership_member")]

    def __str__(self) -> str:
        return f"{self.member_id} in league {self.league_id}"
