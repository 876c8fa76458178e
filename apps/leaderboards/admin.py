from django.contrib import admin, messages

import apps.matches.admin  # noqa: F401  (registers the tournament admin this module extends)
from apps.common.admin import model_admin_extend
from apps.common.audit import Action, audit_record
from apps.common.errors import ApplicationError
from apps.leaderboards.achievements.catalogue import BY_CODE, CATALOGUE
from apps.leaderboards.boards.projection_read import projection_enabled
from apps.leaderboards.boards.services import projection_rebuild_enqueue
from apps.leaderboards.boards.snapshots.operations import snapshot_request
from apps.leaderboards.models import (
    Achievement,
    BoardState,
    QuestionSettlementRequest,
    RankSnapshot,
    ScoreAction,
    ScoreActionAward,
    SettlementRequest,
)
from apps.leaderboards.settlement.operations import (
    match_settle_now,
    question_request_retry,
    settlement_request_retry,
)
from apps.matches.models import Tournament


class _OutboxAdmin(admin.ModelAdmin):
    """An outbox of batched settlement requests: rows only settlement writes; failed ones are dead letters."""

    ordering = ("-id",)
    show_full_result_count = False
    # The service that sends a failed request back to the queue: (request_id, actor).
    retry_service = None

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting an applied request would lose what its points were computed from.
        return False

    # Actions with no permissions listed are open to anyone who may view the list.
    @admin.action(description="Retry (failed requests resume where they stopped)", permissions=["change"])
    def retry(self, request, queryset):
        retried = skipped = 0
        for request_id in queryset.values_list("pk", flat=True):
            try:
                self.retry_service(request_id=request_id, actor=request.user)
                retried += 1
            except ApplicationError:
                skipped += 1
        self.message_user(
            request, f"Sent {retried} request(s) back to the queue; {skipped} were not failed.", messages.SUCCESS
        )


@admin.register(SettlementRequest)
class SettlementRequestAdmin(_OutboxAdmin):
    """The settlement outbox. Failed requests are dead letters: read the error, then Retry."""

    list_display = (
        "idempotency_key",
        "kind",
        "applied_live",
        "status",
        "attempts",
        "guesses_walked",
        "standings_moved",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "kind", "applied_live")
    search_fields = ("=idempotency_key", "=match__id", "=request_id")
    list_select_related = ("match",)
    actions = ["retry", "settle_again"]
    retry_service = staticmethod(settlement_request_retry)
    readonly_fields = [field.name for field in SettlementRequest._meta.fields]



    @admin.action(description="Settle the match again now", permissions=["change"])
    def settle_again(self, request, queryset):
        match_ids = set(queryset.values_list("match_id", flat=True))
        for match_id in match_ids:
            try:
                match_settle_now(match_id=match_id, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"Match {match_id}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Queued settlement of {len(match_ids)} match(es).", messages.SUCCESS)


@admin.register(QuestionSettlementRequest)
class QuestionSettlementRequestAdmin(_OutboxAdmin):
    """The outbox of bonus-question settlements. Failed requests are dead letters: read the error, then Retry."""

    list_display = (
        "idempotency_key", "status", "attempts", "answers_walked", "standings_moved", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("status",)
    search_fields = ("=idempotency_key", "=question__id", "=request_id")
    actions = ["retry"]
    retry_service = staticmethod(question_request_retry)
    readonly_fields = [field.name for field in QuestionSettlementRequest._meta.fields]




@admin.register(BoardState)
class BoardStateAdmin(admin.ModelAdmin):
    list_display = ("tournament", "version", "as_of", "projection_stale")
    list_filter = ("projection_stale",)
    readonly_fields = ("tournament", "version", "as_of", "projection_stale", "live_matches")
    actions = ["rebuild_leaderboard"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Rebuild leaderboard (Redis projection from the database)")
    def rebuild_leaderboard(self, request, queryset):
        _rebuild(self, request, list(queryset.values_list("tournament_id", flat=True)))


@admin.register(ScoreAction)
class ScoreActionAdmin(admin.ModelAdmin):
    """The score-action catalogue: the server decides what each action is worth."""

    list_display = ("code", "name", "tournament", "points", "limit", "period", "is_active")
    list_filter = ("tournament", "period", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("tournament",)

    # The admin runs these in one transaction per request: the entry commits with the change.
    def save_model(self, request, obj, form, change):
        before = _score_action_values(ScoreAction.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        after = _score_action_values(obj)
        if before != after:
            audit_record(
                actor=request.user, action=Action.SCORE_ACTION_CHANGED, target=obj, before=before, after=after
            )

    def delete_model(self, request, obj):
        before, pk = _score_action_values(obj), obj.pk
        super().delete_model(request, obj)
        audit_record(
            actor=request.user, action=Action.SCORE_ACTION_CHANGED, target=("scoreaction", pk), before=before
        )

    def delete_queryset(self, request, queryset):
        gone = [(obj.pk, _score_action_values(obj)) for obj in queryset]
        super().delete_queryset(request, queryset)
        for pk, before in gone:
            audit_record(
                actor=request.user, action=Action.SCORE_ACTION_CHANGED, target=("scoreaction", pk), before=before
            )


def _score_action_values(action: ScoreAction) -> dict:
    return {
        "tournament": action.tournament_id,
        "code": action.code,
        "name": action.name,
        "points": action.points,
        "limit": action.limit,
        "period": action.period,
        "is_active": action.is_active,
    }


@admin.register(ScoreActionAward)
class ScoreActionAwardAdmin(admin.ModelAdmin):
    list_display = ("action", "member", "points", "status", "created_at", "applied_at")
    list_filter = ("status",)
    search_fields = ("=member__username", "=idempotency_key")
    list_select_related = ("action", "member")
    show_full_result_count = False
    readonly_fields = ("action", "tournament", "member", "idempotency_key", "points", "status", "created_at", "applied_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AchievementCodeFilter(admin.SimpleListFilter):
    title = "achievement"
    parameter_name = "code"

    def lookups(self, request, model_admin):
        return [(entry.code, entry.name) for entry in CATALOGUE]

    def queryset(self, request, queryset):
        return queryset.filter(code=self.value()) if self.value() else queryset


@admin.register(Achievement)
class AchievementAdmin(admin.ModelAdmin):
    """Achievements are earned and taken back by settlement and rank snapshots only: read-only here."""

    list_display = ("member_id", "tournament_id", "code", "name", "earned_at", "match_id", "round_id", "snapshot_id")
    list_filter = (AchievementCodeFilter,)
    search_fields = ("=member__id", "=member__username")
    ordering = ("-earned_at", "-id")
    show_full_result_count = False
    readonly_fields = [field.name for field in Achievement._meta.fields]

    @admin.display(description="name")
    def name(self, obj):
        entry = BY_CODE.get(obj.code)
        return entry.name if entry else obj.code

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _rebuild(modeladmin, request, tournament_ids: list[int]) -> None:
    if not projection_enabled():
        modeladmin.message_user(
            request, "No Redis is configured (REDIS_URL): leaderboards are read from the database.", messages.INFO
        )
        return
    for tournament_id in tournament_ids:
        projection_rebuild_enqueue(tournament_id=tournament_id)
        audit_record(
            actor=request.user,
            action=Action.LEADERBOARD_REBUILT,
            target=("tournament", tournament_id),
            after={"queued": True},
        )
    modeladmin.message_user(request, f"Queued the rebuild of {len(tournament_ids)} tournament(s).", messages.SUCCESS)


@admin.action(description="Rebuild leaderboard (Redis projection from the database)")
def rebuild_leaderboard(modeladmin, request, queryset):
    _rebuild(modeladmin, request, list(queryset.values_list("pk", flat=True)))


@admin.action(description="Record a rank snapshot now", permissions=["change"])
def record_rank_snapshot(modeladmin, request, queryset):
    tournament_ids = list(queryset.values_list("pk", flat=True))
    for tournament_id in tournament_ids:
        snapshot_request(tournament_id=tournament_id, actor=request.user)
    modeladmin.message_user(
        request, f"Queued a rank snapshot of {len(tournament_ids)} tournament(s).", messages.SUCCESS
    )


@admin.register(RankSnapshot)
class RankSnapshotAdmin(admin.ModelAdmin):
    """Recorded rank snapshots (daily at 00:00 in each tournament's time zone, and staff's)."""

    list_display = ("tournament", "as_of", "local_date", "trigger", "total")
    list_filter = ("trigger", "tournament")
    list_select_related = ("tournament",)
    ordering = ("-as_of",)
    readonly_fields = ("tournament", "as_of", "local_date", "trigger", "total")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


model_admin_extend(Tournament, actions=[rebuild_leaderboard, record_rank_snapshot])
