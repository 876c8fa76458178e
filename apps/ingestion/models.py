from django.conf import settings
from django.db import models

from apps.common.models import TimeStampedModel


class Provider(models.TextChoices):
    OPENFOOTBALL = "openfootball", "openfootball JSON"
    FOOTBALL_DATA = "football-data", "football-data.org v4"
    SOFASCORE = "sofascore", "SofaScore event JSON"
    REPLAY = "replay", "Replay of a finished tournament"


class DataSource(TimeStampedModel):
    """Where a tournament's fixtures and results come from; reused by admin and API triggers."""

    tournament = models.OneToOneField("matches.Tournament", on_delete=models.CASCADE, related_name="data_source")
    provider = models.CharField(max_length=32, choices=Provider.choices)
    source = models.CharField(max_length=1024, help_text="A file path or an https URL.")
    options = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.provider}: {self.source}"


class Execution(TimeStampedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Operation(models.TextChoices):
        FIXTURES = "fixtures", "Fixtures"
        RESULTS = "results", "Results"
        FULL = "full", "Full"

    tournament = models.ForeignKey(
        "matches.Tournament", on_delete=models.CASCADE, related_name="executions", null=True, blank=True
    )
    provider = models.CharField(max_length=32, choices=Provider.choices)
    source = models.CharField(max_length=1024, blank=True)
    # What the run was asked for, kept so a retry repeats it exactly even when
    # the first attempt failed before its tournament existed.
    tournament_slug = models.SlugField(max_length=64, blank=True)
    options = models.JSONField(default=dict, blank=True)
    operation = models.CharField(max_length=16, choices=Operation.choices, default=Operation.FULL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    trigger = models.CharField(max_length=16, default="manual", help_text="manual, api, admin, schedule or command.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries")
    # The X-Request-ID of the request (or of the request behind the job) that created it, to find its log lines.
    request_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="execution_status"),
            models.Index(fields=["tournament", "status"], name="execution_tournament_status"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.operation} #{self.pk} ({self.status})"


class ExecutionStep(models.Model):
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=32, help_text="fetched, parsed, upserted, unchanged, error, ...")
    detail = models.TextField(blank=True)
    count = models.IntegerField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["execution_id", "id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}"
