from django.conf import settings
from django.db import models

from apps.common.models import TimeStampedModel
from apps.matches.models import SettlementKind


class Standing(models.Model):
    """A member's running totals in one tournament, moved only by settlement and score actions.

    Indexes are kept to the unique key settlement looks rows up by: every extra
    index is paid on every settlement write. Ranking reads come from Redis.
    Only rows whose totals change are written: a guess that scored nothing
    touches no standing, so the number of settled guesses is counted from the
    guesses when read rather than stored here.
    """

    # The unique (tournament, member) key leads with the tournament: a separate
    # tournament index would only be one more index to maintain on every write.
    tournament = models.ForeignKey("matches.Tournament", on_delete=models.CASCADE, related_name="+", db_index=False)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    points = models.IntegerField(default=0)
    exact_hits = models.IntegerField(default=0)
    outcome_hits = models.IntegerField(default=0)
    # The part of `points` from matches in play (provisionally settled): shown
    # apart on every row, back to 0 once those matches finish.
    live_points = models.IntegerField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tournament", "member"], name="standing_unique")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points} in tournament {self.tournament_id}"


# The rows a round table lists: the member earned something in the round.
ROUND_EARNED_SQL = "(points <> 0 OR exact_hits <> 0 OR outcome_hits <> 0)"


class RoundStandingQuerySet(models.QuerySet):
    def earned(self) -> "RoundStandingQuerySet":
        """The rows a round table lists (zero rows are kept for the next goal, never shown)."""
        return self.exclude(points=0, exact_hits=0, outcome_hits=0)


class RoundStanding(models.Model):
    """The same totals for one round (the round table).

    A row exists while the member has earned something in the round (points,
    an exact or an outcome hit); the round table lists exactly these rows.
    A row that falls back to nothing is kept at zero, not deleted: a match in
    play swings hundreds of thousands of members in and out of a round at
    every goal, and an update in place (HOT, no index touched) costs a
    fraction of a delete now and an insert at the next goal. Every read of a
    round table and its Redis set leaves zero rows out (`ROUND_EARNED_SQL`,
    `RoundStandingQuerySet.earned`).

    Rows are derived data, written only by settlement from guesses whose own
    keys are checked, so the database checks no foreign key here: the first
    match of a round inserts a row per scorer, and three deferred key checks
    per row cost more than the inserts (measured: 115 ms for 9,442 rows against
    43 ms for the insert). Deletes still cascade through the ORM, and
    verify_standings checks every row against the guesses. For the same reason
    the key is (round, member) itself: one index to fill per insert, not two.
    """

    pk = models.CompositePrimaryKey("round", "member")
    tournament = models.ForeignKey(
        "matches.Tournament", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    round = models.ForeignKey(
        "matches.Round", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    points = models.IntegerField(default=0)
    exact_hits = models.IntegerField(default=0)
    outcome_hits = models.IntegerField(default=0)
    live_points = models.IntegerField(default=0, db_default=0)

    objects = RoundStandingQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points} in round {self.round_id}"


class BatchedRequest(TimeStampedModel):
    """What every settlement outbox row has: a status claimed by compare-and-swap, and batch progress.

    A match's settlement and a bonus question's settlement run through the
    same loop (settlement.runner.loop) on these fields.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded"

    idempotency_key = models.CharField(max_length=96, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # The X-Request-ID of the request (or job) whose change wrote this request (docs/operations.md).
    request_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # The claim: who runs the request and when it last showed progress. A
    # redelivered message of the same job, or anyone once the heartbeat is
    # stale, may take it over; progress below makes that safe.
    claimed_by = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    # Progress: every row of a member id <= cursor is applied. Moved in the
    # same transaction as the standings of each batch, so a rerun resumes there.
    cursor = models.BigIntegerField(default=0)
    projected_cursor = models.BigIntegerField(default=0)
    standings_moved = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class SettlementRequest(BatchedRequest):
    """Outbox row: one settlement (or reversal) of one result version of a match.

    Written in the same transaction as the result change that causes it; the
    idempotency key makes a second write of the same change a no-op.
    """

    Kind = SettlementKind

    match = models.ForeignKey("matches.Match", on_delete=models.CASCADE, related_name="settlement_requests")
    result_version = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SETTLE)

    # What this request applies, fixed when it is first claimed, and the request
    # whose applied state it moves from (None: nothing was applied before).
    # Points are never stored per guess: old and new points are both derived
    # from these, so a correction applies exactly (new - old).
    base = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    applied_home = models.PositiveSmallIntegerField(null=True, blank=True)
    applied_away = models.PositiveSmallIntegerField(null=True, blank=True)
    applied_points_exact = models.PositiveSmallIntegerField(null=True, blank=True)
    applied_points_goal_difference = models.PositiveSmallIntegerField(null=True, blank=True)
    applied_points_outcome = models.PositiveSmallIntegerField(null=True, blank=True)
    applied_multiplier = models.PositiveSmallIntegerField(null=True, blank=True)
    applied_round = models.ForeignKey(
        "matches.Round", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The applied result is a score in play: its points count as live points too.
    applied_live = models.BooleanField(default=False, db_default=False)

    guesses_walked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="settlement_request_status"),
            models.Index(fields=["match", "status"], name="settlement_request_match"),
        ]

    def __str__(self) -> str:
        return self.idempotency_key

    @property
    def applies_points(self) -> bool:
        return self.applied_home is not None and self.applied_away is not None


class QuestionSettlementRequest(BatchedRequest):
    """Outbox row: one settlement (or un-settlement) of one answer version of a bonus question.

    Written in the transaction that set (or cleared) the correct answer, keyed
    `question:{question_id}:{answer_version}`. What it applies (the correct
    answer and the points) is fixed when it is first claimed, with the request
    it moves from, so a re-settle moves each standing by (new - old).
    """

    question = models.ForeignKey(
        "matches.BonusQuestion", on_delete=models.CASCADE, related_name="settlement_requests"
    )
    answer_version = models.PositiveIntegerField()
    base = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    # Both None: the request applies nothing (un-settled); the points leave every standing.
    applied_team = models.ForeignKey(
        "matches.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    applied_number = models.PositiveSmallIntegerField(null=True, blank=True)
    applied_points = models.PositiveSmallIntegerField(null=True, blank=True)
    answers_walked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="question_request_status"),
            models.Index(fields=["question", "status"], name="question_request_question"),
        ]

    def __str__(self) -> str:
        return self.idempotency_key

    @property
    def applies_points(self) -> bool:
        return self.applied_points is not None and (self.applied_team_id is not None or self.applied_number is not None)


class BoardState(models.Model):
    """Per tournament: the version and time of the last change of its boards, and projection health.

    `version` moves in the transaction of every settlement batch and score
    action, so the database path answers a version that only grows.
    `projection_stale` is set when a Redis write failed; the sweeper rebuilds.
    """

    tournament = models.OneToOneField(
        "matches.Tournament", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    version = models.BigIntegerField(default=0)
    as_of = models.DateTimeField(null=True, blank=True)
    projection_stale = models.BooleanField(default=False)
    # The tournament's matches in play as the boards count them:
    # [{"id", "home_score", "away_score"}], moved with the version.
    live_matches = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"tournament {self.tournament_id} boards v{self.version}"


class ScoreAction(TimeStampedModel):
    """A catalogue entry: an action members may do for fixed points, at most `limit` times per period."""

    class Period(models.TextChoices):
        DAY = "day", "Per day (UTC)"
        WEEK = "week", "Per week (UTC, from Monday)"
        TOURNAMENT = "tournament", "Per tournament"

    tournament = models.ForeignKey("matches.Tournament", on_delete=models.CASCADE, related_name="score_actions")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=128)
    points = models.PositiveSmallIntegerField(default=1)
    limit = models.PositiveIntegerField(default=1)
    period = models.CharField(max_length=16, choices=Period.choices, default=Period.DAY)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["tournament_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["tournament", "code"], name="score_action_unique_code"),
            models.CheckConstraint(condition=models.Q(limit__gte=1), name="score_action_limit_positive"),
        ]

    def __str__(self) -> str:
        return self.code


class ScoreActionAward(models.Model):
    """One accepted score action of one member. `points` is what the catalogue said at that moment.

    Written `pending` by the request and moved to `applied` in the transaction
    that adds its points to the standing, so the standing invariant counts
    applied awards only.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"

    action = models.ForeignKey(ScoreAction, on_delete=models.CASCADE, related_name="awards", db_index=False)
    tournament = models.ForeignKey("matches.Tournament", on_delete=models.CASCADE, related_name="+", db_index=False)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    idempotency_key = models.UUIDField()
    points = models.IntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="score_award_unique_key"),
        ]
        indexes = [
            models.Index(fields=["member", "action", "created_at"], name="score_award_member_action"),
            models.Index(fields=["tournament", "member"], name="score_award_tournament_member"),
            models.Index(fields=["status", "created_at"], name="score_award_status"),
        ]

    def __str__(self) -> str:
        return f"{self.action_id} for {self.member_id}"


class RankSnapshot(models.Model):
    """The ranks of a tournament's board recorded at one moment (SCORING.md "Rank snapshots and history").

    Written with its rows in one transaction (`boards.snapshots.record`), so a
    snapshot that exists is complete. A daily snapshot carries the local date
    (in the tournament's time zone) it stands for: the partial unique
    constraint makes a second daily snapshot of the same day impossible,
    however many beats race for it. Staff snapshots carry no date.
    """

    class Trigger(models.TextChoices):
        DAILY = "daily", "Daily (00:00 in the tournament's time zone)"
        STAFF = "staff", "Asked for by staff"

    tournament = models.ForeignKey("matches.Tournament", on_delete=models.CASCADE, related_name="+", db_index=False)
    as_of = models.DateTimeField(help_text="When the ranks were read.")
    local_date = models.DateField(null=True, blank=True, help_text="The tournament's local day (daily snapshots).")
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    total = models.PositiveIntegerField(default=0, help_text="Participants ranked.")

    class Meta:
        ordering = ["tournament_id", "as_of", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tournament", "local_date"],
                condition=models.Q(trigger="daily"),
                name="rank_snapshot_one_daily_per_day",
            ),
        ]
        # "The latest snapshot of a tournament" and the history's snapshot list.
        indexes = [models.Index(fields=["tournament", "as_of"], name="rank_snapshot_tournament")]

    def __str__(self) -> str:
        return f"tournament {self.tournament_id} ranks at {self.as_of:%Y-%m-%d %H:%M}"


class RankSnapshotRow(models.Model):
    """One member's rank and totals in one snapshot: 1M rows per snapshot of a World Cup.

    Kept narrow (two keys, three integers). The key is (member, snapshot):
    a member's history is one index range, and a board page looks up its
    members' rows by the full key. Rows are derived data written in one
    INSERT ... SELECT from the standings, so no foreign key is checked per row
    (a million trigger calls would cost more than the insert); deletes still
    cascade through the ORM. On PostgreSQL a BRIN index on `snapshot_id`
    (migration 0011) finds one snapshot's rows, which sit together in the heap
    because they are appended in one statement and never updated.
    """

    pk = models.CompositePrimaryKey("member", "snapshot")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    snapshot = models.ForeignKey(
        RankSnapshot, on_delete=models.CASCADE, related_name="rows", db_index=False, db_constraint=False
    )
    rank = models.IntegerField()
    points = models.IntegerField()
    exact_hits = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.member_id}: rank {self.rank} in snapshot {self.snapshot_id}"


class Achievement(models.Model):
    """An achievement a member holds in a tournament (SCORING.md "Achievements"), at most once per code.

    Rows are derived data written only by the achievements evaluation, under
    the tournament lock, from keys it read from checked tables: like
    `RoundStanding`, the database checks no foreign key (a first settlement
    may insert a hundred thousand rows; deletes still cascade through the ORM).

    What the achievement rests on is kept so that a correction takes it back
    exactly: `match` (first_exact: the match of the exact hit; hat_trick: the
    last match of the three), `round` (perfect_round), `snapshot_id`
    (top_ten_percent, climber: the rank snapshot that earned it).
    """

    tournament = models.ForeignKey(
        "matches.Tournament", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # A code of `achievements.catalogue` (no choices here, so that models import none of the packages).
    code = models.CharField(max_length=32)
    earned_at = models.DateTimeField()
    match = models.ForeignKey(
        "matches.Match", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    round = models.ForeignKey(
        "matches.Round", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    snapshot_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["tournament_id", "member_id", "earned_at", "code"]
        constraints = [
            models.UniqueConstraint(fields=["tournament", "member", "code"], name="achievement_unique_code"),
        ]
        indexes = [
            # A change of a finished round re-checks the holders of that round's perfect_round.
            models.Index(fields=["round"], name="achievement_round", condition=models.Q(round__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.code} of {self.member_id} in tournament {self.tournament_id}"
