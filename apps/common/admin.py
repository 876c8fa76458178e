"""Admin helpers shared by apps."""

import json

from django.contrib import admin
from django.utils.html import format_html

from apps.common.models import AuditEntry


def model_admin_extend(model, *, actions=(), inlines=()) -> None:
    """Add actions and inlines to the admin of a model another app registers.

    Lets an app put its operations on a page it does not own (ingestion's
    "Ingest now" and the leaderboards' "Rebuild leaderboard" on tournaments)
    without the owning app importing it. Apps' admin modules load in
    INSTALLED_APPS order, so the owner's admin is registered first.
    """
    if not admin.site.is_registered(model):
        admin.site.register(model, type(f"{model.__name__}Admin", (admin.ModelAdmin,), {}))
    admin_class = type(admin.site.get_model_admin(model))
    present = list(admin_class.actions or [])
    admin_class.actions = [*present, *(a for a in actions if a not in present)]
    present_inlines = list(admin_class.inlines or [])
    admin_class.inlines = [*present_inlines, *(i for i in inlines if i not in present_inlines)]


class AuditActorKindFilter(admin.SimpleListFilter):
    """By kind of actor; one actor by its label through the search box (`staff:12`).

    Not Django's all-values filter: listing every distinct actor scans the whole trail.
    """

    title = "actor"
    parameter_name = "actor_kind"

    def lookups(self, request, model_admin):
        return [
            ("staff", "Staff"),
            ("member", "Members"),
            ("feed", "Feeds"),
            ("command", "Commands"),
            ("system", "System"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "system":
            return queryset.filter(actor="system")
        return queryset.filter(actor__startswith=f"{value}:")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit trail, read only: the database refuses to change or delete an entry anyway."""

    list_display = ("at", "actor", "action", "target_type", "target_id", "request_id")
    list_filter = ("action", "target_type", AuditActorKindFilter, ("at", admin.DateFieldListFilter))
    search_fields = ("^actor", "=target_id", "=request_id")
    date_hierarchy = "at"
    ordering = ("-id",)
    show_full_result_count = False
    readonly_fields = (
        "at", "actor", "action", "target_type", "target_id", "before_pretty", "after_pretty", "request_id"
    )
    fields = readonly_fields

    @admin.display(description="before")
    def before_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.before, indent=2, ensure_ascii=False, default=str))

    @admin.display(description="after")
    def after_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.after, indent=2, ensure_ascii=False, default=str))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
