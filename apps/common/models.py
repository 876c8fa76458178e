from django.db import models
from django.utils import timezone


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEntry(models.Model):
    """One change staff, a feed or a member made to something that moves points or access.

    Append-only: the database refuses UPDATE and DELETE on the table (triggers
    in migration 0001), so an entry says what happened even to someone with
    the application's database credentials and a shell. Written in the
    transaction of the change it records (`apps.common.audit.audit_record`):
    a change that rolls back leaves no entry.

    `actor` is text, not a key to the member table: an entry must outlive the
    member (a foreign key's ON DELETE would have to update or delete it), and
    feeds and commands act too. See `audit_actor` for the forms it takes.
    """

    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ("-id",)
        verbose_name_plural = "audit entries"
        indexes = [
            # "What happened to this match?": the question the trail is read for most.
            models.Index(fields=["target_type", "target_id", "-id"], name="audit_target_idx"),
            models.Index(fields=["action", "-id"], name="audit_action_idx"),
            models.Index(fields=["at"], name="audit_at_idx"),
            models.Index(fields=["request_id"], name="audit_request_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target_type} {self.target_id}"
