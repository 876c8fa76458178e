from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery

from apps.leagues.models import League, LeagueMembership
from apps.leagues.services import league_invite_code_reset, league_member_add, league_member_remove


@admin.register(League)
class LeagueAdmin(admin.ModelAdmin):
    list_display = ("name", "tournament", "owner", "invite_code", "members", "created_at")
    list_filter = ("tournament",)
    list_select_related = ("tournament", "owner")
    search_fields = ("name", "=invite_code", "=owner__username")
    readonly_fields = ("tournament", "owner", "invite_code", "created_at", "updated_at")
    fields = ("name", "tournament", "owner", "invite_code", "created_at", "updated_at")
    actions = ["rotate_invite_codes"]
    show_full_result_count = False

    def get_queryset(self, request):
        # One count per row of the page, not a GROUP BY over every league.
        member_count = (
            LeagueMembership.objects.filter(league=OuterRef("pk"))
            .order_by()
            .values("league")
            .annotate(n=Count("*"))
            .values("n")
        )
        return super().get_queryset(request).annotate(_members=Subquery(member_count, output_field=IntegerField()))

    @admin.display(description="members", ordering="_members")
    def members(self, league: League) -> int:
        return league._members or 0

    def has_add_permission(self, request):
        # Members create leagues; the owner, code and first membership come from the service.
        return False

    @admin.action(description="Rotate the invite code (the old one stops working)")
    def rotate_invite_codes(self, request, queryset):
        for league_id in queryset.values_list("pk", flat=True):
            league_invite_code_reset(league_id=league_id, actor=request.user)
        self.message_user(request, f"Rotated {queryset.count()} invite code(s).", messages.SUCCESS)


@admin.register(LeagueMembership)
class LeagueMembershipAdmin(admin.ModelAdmin):
    list_display = ("member", "league", "joined_at")
    list_select_related = ("member", "league")
    search_fields = ("=league__invite_code", "=member__username", "league__name")
    autocomplete_fields = ("league", "member")
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the service: joining a league also joins its tournament.
        membership = league_member_add(league=obj.league, member_id=obj.member_id)
        obj.pk, obj.joined_at = membership.pk, membership.joined_at

    def delete_model(self, request, obj):
        # Through the service, so an owner's removal hands the league on.
        league = obj.league
        league_member_remove(
            league_id=league.pk, actor_id=league.owner_id, member_id=obj.member_id, actor=request.user
        )

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("league"):
            self.delete_model(request, membership)
