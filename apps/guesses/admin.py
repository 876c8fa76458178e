from django.contrib import admin

from apps.guesses.models import Guess


@admin.register(Guess)
class GuessAdmin(admin.ModelAdmin):
    """Read-only: a guess is the member's, and settled points and standings are derived from it."""

    list_display = ("id", "member", "match", "home_goals", "away_goals", "joker", "updated_at")
    list_filter = ("match__tournament", "match__status", "joker")
    list_select_related = ("member", "match__home_team", "match__away_team")
    search_fields = ("=member__username", "=match__id")
    raw_id_fields = ("member", "match")
    # Millions of rows: no exact count per page, no sort over the whole table.
    show_full_result_count = False
    ordering = ("-id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
