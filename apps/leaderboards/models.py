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
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class LeagueMembership(models.Model):
    league = models.ForeignKey(League, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="league_memberships")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["league", "member"], name="league_membership_unique")]
        indexes = [models.Index(fields=["member", "league"], name="league_membership_member")]

    def __str__(self) -> str:
        return f"{self.member_id} in league {self.league_id}"


class Standing(models.Model):
    """A member's running totals in one tournament, moved only by settlement and score actions.

    Indexes are kept to the unique key settlement looks rows up by: every extra
    index is paid on every settlement write. Ranking reads come from Redis.
    """

    tournament = models.ForeignKey("matches.Tournament", on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    points = models.IntegerField(default=0)
    exact_hits = models.IntegerField(default=0)
    outcome_hits = models.IntegerField(default=0)
    settled_guesses = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tournament", "member"], name="standing_unique")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points} in tournament {self.tournament_id}"


class RoundStanding(models.Model):
    """The same totals for one round (the round table)."""

    tournament = models.ForeignKey("matches.Tournament", on_delete=models.CASCADE, related_name="+", db_index=False)
    round = models.ForeignKey("matches.Round", on_delete=models.CASCADE, related_name="+", db_index=False)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    points = models.IntegerField(default=0)
    exact_hits = models.IntegerField(default=0)
    outcome_hits = models.IntegerField(default=0)
    settled_guesses = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "member"], name="round_standing_unique")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points} in round {self.round_id}"


class SettlementRequest(TimeStampedModel):
    """Outbox row: one settlement (or reversal) of one result version of a match.

    Written in the same transaction as the result change that causes it; the
    idempotency key makes a second write of the same change a no-op.
    """

    class Kind(models.TextChoices):
        SETTLE = "settle", "Settle"
        REVERSE = "reverse", "Reverse"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded"

    match = models.ForeignKey("matches.Match", on_delete=models.CASCADE, related_name="settlement_requests")
    result_version = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SETTLE)
    idempotency_key = models.CharField(max_length=96, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "created_at"], name="settlement_request_status")]

    def __str__(self) -> str:
        return self.idempotency_key
