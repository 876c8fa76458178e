from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.common.models import TimeStampedModel


class Tournament(TimeStampedModel):
    class Status(models.TextChoices):
        UPCOMING = "upcoming", "Upcoming"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"

    class CountedResult(models.TextChoices):
        REGULAR = "regular", "After regular time"
        EXTRA_TIME = "extra_time", "After extra time (when played)"

    name = models.CharField(max_length=128)
    slug = models.SlugField(max_length=64, unique=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPCOMING)
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="Applied to provider kickoff times that carry no offset."
    )

    # Scoring settings (SCORING.md). Changing them after the start re-settles the tournament.
    points_exact = models.PositiveSmallIntegerField(default=4, validators=[MaxValueValidator(100)])
    points_goal_difference = models.PositiveSmallIntegerField(default=3, validators=[MaxValueValidator(100)])
    points_outcome = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(100)])
    counted_result = models.CharField(max_length=16, choices=CountedResult.choices, default=CountedResult.REGULAR)
    lock_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(7 * 24 * 60)], help_text="Guesses lock this many minutes before kickoff."
    )
    jokers_per_round = models.PositiveSmallIntegerField(
        default=1,
        db_default=1,
        validators=[MaxValueValidator(10)],
        help_text="Jokers a member may set per round (a joker doubles a guess's points); 0 turns jokers off.",
    )

    class Meta:
        ordering = ["-starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_exact__gte=models.F("points_goal_difference"))
                & Q(points_goal_difference__gte=models.F("points_outcome")),
                name="tournament_points_ordered",
                violation_error_message="Points must satisfy exact >= goal difference >= outcome.",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(starts_at__isnull=True) | Q(ends_at__gte=models.F("starts_at")),
                name="tournament_ends_after_start",
                violation_error_message="A tournament cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Round(models.Model):
    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="rounds")
    name = models.CharField(max_length=128)
    name_key = models.CharField(max_length=128, editable=False, help_text="Case- and accent-folded name.")
    order = models.PositiveIntegerField(default=0)
    multiplier = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(10)])

    class Meta:
        ordering = ["tournament_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tournament", "name_key"], name="round_unique_name_per_tournament"),
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="round_multiplier_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=128)
    name_key = models.CharField(max_length=128, editable=False, help_text="Case- and accent-folded name.")
    code = models.CharField(max_length=8, blank=True)

    class Meta:
        ordering = ["tournament_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tournament", "name_key"], name="team_unique_name_per_tournament"),
        ]

    def __str__(self) -> str:
        return self.name


class SettlementKind(models.TextChoices):
    """What a result change asks of settlement: award the result's points, or take them back."""

    SETTLE = "settle", "Settle"
    REVERSE = "reverse", "Reverse"


class Match(TimeStampedModel):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        FINISHED = "finished", "Finished"
        POSTPONED = "postponed", "Postponed"
        CANCELLED = "cancelled", "Cancelled"
        ABANDONED = "abandoned", "Abandoned"

    VOID_STATUSES = (Status.CANCELLED, Status.ABANDONED)
    # A match whose counted score gives points: finished, or in play (provisionally).
    SCORED_STATUSES = (Status.FINISHED, Status.LIVE)

    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="matches")
    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="matches")
    home_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    away_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    kickoff_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)

    # Regular time (90 minutes plus stoppage), extra time (cumulative), penalties.
    home_score = models.PositiveSmallIntegerField(null=True, blank=True)
    away_score = models.PositiveSmallIntegerField(null=True, blank=True)
    home_score_et = models.PositiveSmallIntegerField(null=True, blank=True)
    away_score_et = models.PositiveSmallIntegerField(null=True, blank=True)
    home_penalties = models.PositiveSmallIntegerField(null=True, blank=True)
    away_penalties = models.PositiveSmallIntegerField(null=True, blank=True)
    result_version = models.PositiveIntegerField(
        default=0, help_text="Increases each time the finished result changes."
    )
    result_by_hand = models.BooleanField(
        default=False,
        help_text="Status and scores were set by staff: ingestion leaves them alone until this is cleared.",
    )
    # The match's side of settlement, kept here so that matches and guesses can
    # tell what is settled without reading the leaderboards' tables.
    settlement_kind = models.CharField(
        max_length=8,
        choices=SettlementKind.choices,
        blank=True,
        help_text="What the last result change asked of settlement (empty before any).",
    )
    settled_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The result version whose points settlement has awarded."
    )
    # Set by the first read of everyone's guesses. From then on the guess
    # window stays closed even if the kickoff moves later or lock_minutes
    # drops: a member must never change a guess after seeing the others'.
    guesses_revealed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When members first saw each other's guesses; the guess window never reopens after it.",
    )

    provider = models.CharField(max_length=32, blank=True)
    external_id = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["kickoff_at", "id"]
        verbose_name_plural = "matches"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                condition=~Q(external_id=""),
                name="match_unique_provider_external_id",
            ),
            models.CheckConstraint(condition=~Q(home_team=models.F("away_team")), name="match_distinct_teams"),
        ]
        indexes = [models.Index(fields=["tournament", "kickoff_at"], name="match_tournament_kickoff")]

    def __str__(self) -> str:
        return f"{self.home_team} - {self.away_team}"

    @property
    def is_settled(self) -> bool:
        """Whether the points of the final result are awarded (see `selectors.match_settled_q`)."""
        return self.status == Match.Status.FINISHED and self.settled_version == self.result_version

    @property
    def is_scored(self) -> bool:
        """Whether the points of the current score are awarded, final or in play (`selectors.match_scored_q`)."""
        return self.status in Match.SCORED_STATUSES and self.settled_version == self.result_version

    def counted_score(self) -> tuple[int, int] | None:
        """The result that guesses are scored against (SCORING.md "Which result counts")."""
        if self.home_score is None or self.away_score is None:
            return None
        if (
            self.tournament.counted_result == Tournament.CountedResult.EXTRA_TIME
            and self.home_score_et is not None
            and self.away_score_et is not None
        ):
            return (self.home_score_et, self.away_score_et)
        return (self.home_score, self.away_score)


class Participation(models.Model):
    """A member taking part in a tournament: joined explicitly or by a first guess."""

    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="participations")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "tournament"], name="participation_unique_member_tournament")
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.tournament}"


class BonusQuestion(TimeStampedModel):
    """A question of a tournament answered once per member until `closes_at` (SCORING.md "Bonus questions").

    The correct answer is null until staff settle it. `answer_version` moves
    on every settle, re-settle and un-settle: settlement keys its request by
    (question, version), as a match's result version keys its settlement.
    `settled_version` is the version whose points settlement has applied.
    """

    class Kind(models.TextChoices):
        TEAM = "team", "A team of the tournament"
        NUMBER = "number", "A whole number 0..999"

    class AnsweredBy(models.TextChoices):
        """Who settles the question: staff, or the tournament's results once its final is played."""

        STAFF = "staff", "Staff"
        TOURNAMENT_WINNER = "tournament_winner", "The winner of the final (kind team)"
        FINAL_GOALS = "final_goals", "The goals of the final, extra time included (kind number)"

    NUMBER_MAX = 999

    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="bonus_questions")
    text = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    points = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(100)])
    closes_at = models.DateTimeField()
    correct_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    correct_number = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(NUMBER_MAX)]
    )
    answer_version = models.PositiveIntegerField(
        default=0, editable=False, help_text="Moves on every settle, re-settle and un-settle."
    )
    settled_version = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="The answer version whose points settlement has applied."
    )
    answered_by = models.CharField(
        max_length=24,
        choices=AnsweredBy.choices,
        default=AnsweredBy.STAFF,
        help_text="Staff settle it, or the results do once the tournament's final is finished.",
    )

    class Meta:
        ordering = ["tournament_id", "closes_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=1) & Q(points__lte=100),
                name="bonus_question_points_range",
                violation_error_message="A question is worth 1 to 100 points.",
            ),
            # At most the column of the question's kind holds the correct answer.
            models.CheckConstraint(
                condition=(Q(kind="team") & Q(correct_number__isnull=True))
                | (Q(kind="number") & Q(correct_team__isnull=True) & (Q(correct_number__isnull=True) | Q(correct_number__lte=999))),
                name="bonus_question_correct_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(answered_by="staff")
                | Q(answered_by="tournament_winner", kind="team")
                | Q(answered_by="final_goals", kind="number"),
                name="bonus_question_answered_by_kind",
                violation_error_message="The winner of the final answers a team question, its goals a number one.",
            ),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def correct_answer(self) -> int | None:
        return self.correct_team_id if self.kind == self.Kind.TEAM else self.correct_number

    @property
    def is_settled(self) -> bool:
        return self.correct_answer is not None


class BonusAnswer(models.Model):
    """A member's answer to a bonus question: a team or a number, by the question's kind."""

    question = models.ForeignKey(BonusQuestion, on_delete=models.CASCADE, related_name="answers", db_index=False)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    number = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # (question, member) is also the settlement walk's keyset order.
            models.UniqueConstraint(fields=["question", "member"], name="bonus_answer_unique_member"),
            models.CheckConstraint(
                condition=(Q(team__isnull=False) & Q(number__isnull=True))
                | (Q(team__isnull=True) & Q(number__isnull=False) & Q(number__lte=999)),
                name="bonus_answer_one_column",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} on {self.question_id}"

    @property
    def answer(self) -> int:
        return self.team_id if self.team_id is not None else self.number
