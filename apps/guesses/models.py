from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from apps.common.models import TimeStampedModel

MAX_GOALS = 99


class Guess(TimeStampedModel):
    """A member's predicted score for one match.

    Points are not stored per guess: they follow from the guess, the match's
    counted result and the tournament's scoring settings, so settlement writes
    only standings (see apps.leaderboards).
    """

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guesses")
    match = models.ForeignKey("matches.Match", on_delete=models.CASCADE, related_name="guesses")
    home_goals = models.PositiveSmallIntegerField(validators=[MaxValueValidator(MAX_GOALS)])
    away_goals = models.PositiveSmallIntegerField(validators=[MaxValueValidator(MAX_GOALS)])
    # Doubles the guess's points (SCORING.md "The joker"); set or moved only while the match is open.
    joker = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            # (match, member) also serves settlement's keyset walk over one match's guesses.
            models.UniqueConstraint(fields=["match", "member"], name="guess_unique_match_member"),
            models.CheckConstraint(
                condition=Q(home_goals__lte=MAX_GOALS) & Q(away_goals__lte=MAX_GOALS), name="guess_goals_in_range"
            ),
        ]
        indexes = [models.Index(fields=["member", "match"], name="guess_member_match")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.home_goals}-{self.away_goals} on match {self.match_id}"


class GuessSummary(models.Model):
    """How everyone guessed one match, counted once its guesses were shown (API.md "guesses/summary").

    Counted after the match's reveal is recorded, when its guess window is
    closed for good (`matches.services.match_guesses_reveal`), so the guesses
    it counts no longer change: it is never counted again. Served from the
    cache; this row is what a cache that lost it reads back.
    """

    match = models.OneToOneField("matches.Match", on_delete=models.CASCADE, primary_key=True, related_name="+")
    total = models.PositiveIntegerField()
    home_win = models.PositiveIntegerField()
    draw = models.PositiveIntegerField()
    away_win = models.PositiveIntegerField()
    jokers = models.PositiveIntegerField()
    # [{home_goals, away_goals, count}], the most guessed first.
    top_scores = models.JSONField(default=list)
    counted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.total} guesses on match {self.match_id}"
