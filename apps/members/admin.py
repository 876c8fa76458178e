from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from apps.members.models import Member, Pin
from apps.members.services import member_names_fold


class MemberCreationForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = Member
        fields = ("username", "display_name", "email")


class MemberChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = Member
        fields = "__all__"


@admin.register(Member)
class MemberAdmin(UserAdmin):
    form = MemberChangeForm
    add_form = MemberCreationForm
    list_display = ("username", "display_name", "email", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active")
    # Also what the autocomplete widgets of every member foreign key search.
    search_fields = ("username", "display_name", "email")
    ordering = ("id",)
    # A million members: an exact count on every filtered page costs a full scan.
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("display_name", "first_name", "last_name", "email")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    def save_model(self, request, obj, form, change):
        # Staff may rename a member here: the search keys follow the names.
        member_names_fold(member=obj)
        super().save_model(request, obj, form, change)

    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "display_name", "email", "password1", "password2")}),
    )


@admin.register(Pin)
class PinAdmin(admin.ModelAdmin):
    list_display = ("member", "pinned", "created_at")
    autocomplete_fields = ("member", "pinned")
    search_fields = ("member__username", "pinned__username")
    list_select_related = ("member", "pinned")
    show_full_result_count = False
