"""Admin: executions (read-only, with their steps; "Retry"), data sources, and
"Ingest now" on tournaments. Every button queues work on the ingestion queue
and returns at once; none calls a provider inside the request."""

import json

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

# The tournament admin is registered there; importing it first lets this module extend it.
import apps.matches.admin  # noqa: F401
from apps.common.admin import model_admin_extend
from apps.common.errors import ApplicationError
from apps.ingestion.models import DataSource, Execution, ExecutionStep
from apps.ingestion.services import execution_cancel, execution_retry, ingestion_enqueue
from apps.matches.models import Tournament


class ExecutionStepInline(admin.TabularInline):
    model = ExecutionStep
    fields = ("at", "name", "count", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "tournament",
        "provider",
        "operation",
        "status",
        "trigger",
        "triggered_by",
        "created_at",
        "duration",
        "changes",
    )
    list_filter = ("status", "provider", "operation", "trigger")
    list_select_related = ("tournament", "triggered_by")
    search_fields = ("=id", "=request_id", "tournament__name", "source", "error")
    date_hierarchy = "created_at"
    inlines = [ExecutionStepInline]
    actions = ["retry", "cancel"]
    fields = (
        "status",
        "tournament",
        "provider",
        "source",
        "operation",
        "options",
        "trigger",
        "triggered_by",
        "retry_of",
        "request_id",
        "created_at",
        "started_at",
        "finished_at",
        "error",
        "report_pretty",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The record of a run is history: visible, never edited.
        return False

    def has_operate_permission(self, request):
        # Retry and cancel start or stop provider calls: they need the change
        # permission a role is granted, not the view permission that shows the list
        # (the form itself stays read-only above).
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.display(description="duration")
    def duration(self, obj):
        if obj.started_at and obj.finished_at:
            return f"{(obj.finished_at - obj.started_at).total_seconds():.2f} s"
        return "-"

    @admin.display(description="changes")
    def changes(self, obj):
        return (obj.report or {}).get("changes", "-")

    @admin.display(description="report")
    def report_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.report, indent=2, ensure_ascii=False, default=str))

    @admin.action(description="Retry the selected failed or cancelled executions", permissions=["operate"])
    def retry(self, request, queryset):
        for execution in queryset:
            try:
                with transaction.atomic():
                    retry = execution_retry(execution=execution, triggered_by=request.user, trigger="admin")
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.WARNING)
                continue
            self.message_user(request, f"Queued execution #{retry.pk} (retry of #{execution.pk}).", messages.SUCCESS)

    @admin.action(description="Cancel the selected queued executions", permissions=["operate"])
    def cancel(self, request, queryset):
        cancelled = sum(execution_cancel(execution=execution) for execution in queryset)
        self.message_user(request, f"Cancelled {cancelled} queued execution(s); running or finished ones are left alone.")


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ("tournament", "provider", "source", "updated_at")
    list_filter = ("provider",)
    list_select_related = ("tournament",)
    search_fields = ("tournament__name", "source")


class DataSourceInline(admin.StackedInline):
    model = DataSource
    fields = ("provider", "source", "options")
    extra = 0
    max_num = 1


@admin.action(description="Ingest now (fixtures and results from the data source)", permissions=["change"])
def ingest_now(modeladmin, request, queryset):
    for tournament in queryset:
        try:
            with transaction.atomic():
                execution = ingestion_enqueue(
                    tournament=tournament, operation=Execution.Operation.FULL, triggered_by=request.user, trigger="admin"
                )
        except ApplicationError as exc:
            modeladmin.message_user(request, exc.message, messages.WARNING)
            continue
        modeladmin.message_user(
            request, f"Queued ingestion #{execution.pk} of {tournament.name}.", messages.SUCCESS
        )


model_admin_extend(Tournament, actions=[ingest_now], inlines=[DataSourceInline])
