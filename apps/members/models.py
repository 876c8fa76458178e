from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q


class Member(AbstractUser):
    """A person who plays. Staff members also use the admin."""

    display_name = models.CharField(max_length=64, blank=True)
    # The public name and the username folded by `apps.common.names.name_key`
    # (case and accents dropped, spaces collapsed), kept in step by the member
    # services: the board search matches a typed prefix against them with a
    # btree prefix scan (text_pattern_ops), whatever the database's collation.
    display_name_key = models.TextField(default="", db_default="", editable=False)
    username_key = models.TextField(default="", db_default="", editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["display_name_key"], name="member_display_name_key_like", opclasses=["text_pattern_ops"]),
            models.Index(fields=["username_key"], name="member_username_key_like", opclasses=["text_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def public_name(self) -> str:
        return self.display_name or self.username


class Pin(models.Model):
    """A member the pinning member follows on every board (a friend), at most PIN_LIMIT each."""

    # No index of its own: the unique (member, pinned) key leads with it.
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pins", db_index=False)
    pinned = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pinned_by")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["member", "id"]
        constraints = [
            # Leads with the pinning member: also the index their list and count are read by.
            models.UniqueConstraint(fields=["member", "pinned"], name="pin_unique"),
            models.CheckConstraint(condition=~Q(member=F("pinned")), name="pin_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} pins {self.pinned_id}"
