from django.contrib.auth.models import AbstractUser
from django.db import models


class Member(AbstractUser):
    """A person who plays. Staff members also use the admin."""

    display_name = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def public_name(self) -> str:
        return self.display_name or self.username
