from django.contrib import admin

from apps.ingestion.normalize import name_key
from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match, Participation, Round, Team, Tournament
from apps.matches.services import participation_join

SCORING_FIELDS = ("points_exact", "points_goal_difference", "points_outcome", "counted_result", "lock_minutes")
RESULT_FIELDS = (
    "status",
    "home_score",
    "away_score",
    "home_score_et",
    "away_score_et",
    "home_penalties",
    "away_penalties",
    "result_version",
)


def _has_settlements(**match_filter) -> bool:
    return SettlementRequest.objects.filter(**{f"match__{k}": v for k, v in match_filter.items()}).exists()


class RoundInline(admin.TabularInline):
    model = Round
    fields = ("name", "order", "multiplier")
    extra = 0
    show_change_link = True


@admin.register(Tournament)
class TournamentAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "status", "starts_at", "ends_at", "counted_result", "lock_minutes")
    list_filter = ("status", "counted_result")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [RoundInline]
    fieldsets = (
        (None, {"fields": ("name", "slug", "status", "starts_at", "ends_at", "time_zone")}),
        (
            "Scoring",
            {
                "fields": SCORING_FIELDS,
                "description": "Fixed once a match of the tournament has been settled: points already awarded "
                "were computed with these settings.",
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and _has_settlements(tournament_id=obj.pk):
            return SCORING_FIELDS
        return ()

    def save_formset(self, request, form, formset, change):
        # Round.name_key is derived from the name; the inline form does not show it.
        for instance in formset.save(commit=False):
            instance.name_key = name_key(instance.name)
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ("name", "tournament", "order", "multiplier")
    list_filter = ("tournament",)
    list_select_related = ("tournament",)
    search_fields = ("name", "tournament__name")
    ordering = ("tournament", "order", "id")

    def get_readonly_fields(self, request, obj=None):
        # Settled points carry the multiplier; changing it would leave them wrong.
        if obj is not None and _has_settlements(round_id=obj.pk):
            return ("multiplier",)
        return ()

    def save_model(self, request, obj, form, change):
        obj.name_key = name_key(obj.name)
        super().save_model(request, obj, form, change)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "tournament")
    list_filter = ("tournament",)
    list_select_related = ("tournament",)
    search_fields = ("name", "code")

    def save_model(self, request, obj, form, change):
        obj.name_key = name_key(obj.name)
        super().save_model(request, obj, form, change)


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin):
    list_display = ("id", "__str__", "tournament", "round", "kickoff_at", "status", "home_score", "away_score")
    list_filter = ("status", "tournament")
    list_select_related = ("tournament", "round", "home_team", "away_team")
    search_fields = ("=id", "home_team__name", "away_team__name", "external_id")
    autocomplete_fields = ("round", "home_team", "away_team")
    date_hierarchy = "kickoff_at"
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # A result change must raise result_version and write a settlement
        # request in one transaction (the ingestion path does); editing the
        # columns here would leave points and standings out of step.
        if obj is not None:
            return (*RESULT_FIELDS, *self.readonly_fields)
        return self.readonly_fields


@admin.register(Participation)
class ParticipationAdmin(admin.ModelAdmin):
    list_display = ("member", "tournament", "joined_at")
    list_filter = ("tournament",)
    list_select_related = ("member", "tournament")
    search_fields = ("=member__username", "member__display_name")
    autocomplete_fields = ("member",)
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # A participant's standing and guesses stay; removing the participation
        # would drop them from the boards' `total` only.
        return False

    def save_model(self, request, obj, form, change):
        # Through the service, so the zero standing opens with the participation.
        participation = participation_join(tournament_id=obj.tournament_id, member_id=obj.member_id)
        obj.pk, obj.joined_at = participation.pk, participation.joined_at
