from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from apps.common.errors import ApplicationError
from apps.common.names import name_key
from apps.matches.models import BonusQuestion, Match, Participation, Round, Team, Tournament
from apps.matches.question_selectors import bonus_question_closed
from apps.matches.question_services import (
    EDITABLE_FIELDS,
    bonus_question_create,
    bonus_question_settle,
    bonus_question_update,
)
from apps.matches.services import (
    SCORING_FIELDS,
    ScoringChange,
    match_result_check,
    match_result_correct,
    match_result_save,
    participation_join,
    round_multiplier_update,
    tournament_scoring_update,
)

# The result as staff enter it; result_version is moved only by the services.
RESULT_FIELDS = (
    "status",
    "home_score",
    "away_score",
    "home_score_et",
    "away_score_et",
    "home_penalties",
    "away_penalties",
)


def _resettled_message(modeladmin, request, change: ScoringChange, what: str) -> None:
    if not change.changed:
        return
    if change.resettled:
        modeladmin.message_user(
            request,
            f"{what} changed: {change.resettled} match{'es' if change.resettled != 1 else ''} will be re-settled; "
            "standings move by the difference.",
            messages.WARNING,
        )
    else:
        modeladmin.message_user(request, f"{what} changed: no settled match needs re-settling.", messages.INFO)


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
                "description": "Changing the points, the counted result or a round's multiplier once matches "
                "are settled re-settles every settled match of the tournament (or of the round): standings "
                "move by the difference. Lock minutes only move the guess window.",
            },
        ),
    )

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Scoring settings through the service: it locks the tournament and
        # re-settles in this same transaction; the other fields are saved as they are.
        scoring = {field: getattr(obj, field) for field in SCORING_FIELDS if field in form.changed_data}
        if scoring:
            result = tournament_scoring_update(tournament_id=obj.pk, changes=scoring, changed_by=request.user)
            _resettled_message(self, request, result, "Scoring")
        others = [field for field in form.changed_data if field not in SCORING_FIELDS]
        if others:
            obj.save(update_fields=[*others, "updated_at"])

    def save_formset(self, request, form, formset, change):
        if formset.model is not Round:
            super().save_formset(request, form, formset, change)
            return
        instances = formset.save(commit=False)
        changed = {obj.pk: fields for obj, fields in formset.changed_objects}
        for instance in instances:
            # Round.name_key is derived from the name; the inline form does not show it.
            instance.name_key = name_key(instance.name)
            fields = changed.get(instance.pk)
            if fields is None:
                instance.save()
                continue
            if "multiplier" in fields:
                result = round_multiplier_update(
                    round_id=instance.pk, multiplier=instance.multiplier, changed_by=request.user
                )
                _resettled_message(self, request, result, f"Multiplier of {instance.name}")
            others = [field for field in fields if field != "multiplier"]
            if others:
                instance.save(update_fields=[*others, "name_key"])
        for obj in formset.deleted_objects:
            obj.delete()


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ("name", "tournament", "order", "multiplier")
    list_filter = ("tournament",)
    list_select_related = ("tournament",)
    search_fields = ("name", "tournament__name")
    ordering = ("tournament", "order", "id")

    def save_model(self, request, obj, form, change):
        obj.name_key = name_key(obj.name)
        if not change:
            super().save_model(request, obj, form, change)
            return
        if "multiplier" in form.changed_data:
            result = round_multiplier_update(round_id=obj.pk, multiplier=obj.multiplier, changed_by=request.user)
            _resettled_message(self, request, result, "Multiplier")
        others = [field for field in form.changed_data if field != "multiplier"]
        if others:
            obj.save(update_fields=[*others, "name_key"])


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "tournament")
    list_filter = ("tournament",)
    list_select_related = ("tournament",)
    search_fields = ("name", "code")

    def save_model(self, request, obj, form, change):
        obj.name_key = name_key(obj.name)
        super().save_model(request, obj, form, change)


class MatchAdminForm(forms.ModelForm):
    class Meta:
        model = Match
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if all(field in cleaned for field in RESULT_FIELDS):
            try:
                match_result_check(**{field: cleaned[field] for field in RESULT_FIELDS})
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from None
        return cleaned


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin):
    form = MatchAdminForm
    list_display = ("id", "__str__", "tournament", "round", "kickoff_at", "status", "home_score", "away_score")
    list_filter = ("status", "result_by_hand", "tournament")
    list_select_related = ("tournament", "round", "home_team", "away_team")
    search_fields = ("=id", "home_team__name", "away_team__name", "external_id")
    autocomplete_fields = ("round", "home_team", "away_team")
    date_hierarchy = "kickoff_at"
    readonly_fields = ("result_version", "guesses_revealed_at", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        # A result change must raise result_version and write its settlement
        # request in one transaction: the correction service does both, under
        # the same tournament lock as ingestion.
        if not change:
            kind = match_result_save(match=obj, before=None, actor=request.user)
            self._settlement_message(request, kind)
            return
        if any(field in form.changed_data for field in RESULT_FIELDS):
            correction = match_result_correct(
                match_id=obj.pk, **{field: getattr(obj, field) for field in RESULT_FIELDS}, changed_by=request.user
            )
            obj.result_version = correction.match.result_version
            self._settlement_message(request, correction.kind)
        others = [field for field in form.changed_data if field not in RESULT_FIELDS]
        if others:
            obj.save(update_fields=[*others, "updated_at"])

    def _settlement_message(self, request, kind: str | None) -> None:
        if kind == "settle":
            self.message_user(
                request,
                "Result saved: the match will be settled at this result; standings move by the difference.",
                messages.WARNING,
            )
        elif kind == "reverse":
            self.message_user(
                request, "Result saved: the match's points will be taken back from every standing.", messages.WARNING
            )


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


class BonusQuestionAdminForm(forms.ModelForm):
    """Refuses on the page what `question_services` would refuse, so staff see why next to the field."""

    class Meta:
        model = BonusQuestion
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        question = self.instance
        now = timezone.now()
        tournament_id = question.tournament_id if question.pk else getattr(cleaned.get("tournament"), "pk", None)
        kind = cleaned.get("kind", question.kind)
        if question.pk:
            closed = bonus_question_closed(question=question, now=now)
            if "closes_at" in self.changed_data and closed:
                self.add_error("closes_at", "A closed question's closing time cannot move: answers may have been shown.")
            if "kind" in self.changed_data and question.answers.exists():
                self.add_error("kind", "Members have answered this question: its kind cannot change.")
            if {"correct_team", "correct_number"} & set(self.changed_data) and not closed:
                raise forms.ValidationError("A question is settled only once it has closed.")
        elif cleaned.get("correct_team") or cleaned.get("correct_number") is not None:
            raise forms.ValidationError("Ask the question first; settle it once it has closed.")
        team = cleaned.get("correct_team")
        if team is not None and (kind != BonusQuestion.Kind.TEAM or team.tournament_id != tournament_id):
            self.add_error("correct_team", "The correct answer of a team question is a team of its tournament.")
        if cleaned.get("correct_number") is not None and kind != BonusQuestion.Kind.NUMBER:
            self.add_error("correct_number", "Only a number question has a correct number.")
        return cleaned


@admin.register(BonusQuestion)
class BonusQuestionAdmin(admin.ModelAdmin):
    """Bonus questions. Setting the correct team or number of a closed question settles it (clearing both
    un-settles it); standings move by the difference. What may be edited when follows `question_services`."""

    form = BonusQuestionAdminForm

    list_display = ("text", "tournament", "kind", "points", "closes_at", "correct_team", "correct_number")
    list_filter = ("tournament", "kind")
    list_select_related = ("tournament", "correct_team")
    search_fields = ("text",)
    autocomplete_fields = ("correct_team",)
    readonly_fields = ("answer_version", "settled_version", "created_at", "updated_at")
    actions = ["unsettle", "settle_again"]

    def get_readonly_fields(self, request, obj=None):
        # The tournament is fixed once asked: answers name its teams.
        return (*self.readonly_fields, "tournament") if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        # A question once settled holds points in standings; deleting it would
        # take away what they were computed from. Un-settle it instead.
        return obj is None or obj.answer_version == 0

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would skip the check above
        return actions

    def save_model(self, request, obj, form, change):
        try:
            with transaction.atomic():
                if not change:
                    created = bonus_question_create(
                        tournament_id=obj.tournament_id, text=obj.text, kind=obj.kind, points=obj.points,
                        closes_at=obj.closes_at, answered_by=obj.answered_by, actor=request.user,
                    )  # fmt: skip
                    obj.pk = created.pk
                    return
                edits = {field: getattr(obj, field) for field in EDITABLE_FIELDS if field in form.changed_data}
                if edits:
                    bonus_question_update(question_id=obj.pk, changes=edits, actor=request.user)
                if {"correct_team", "correct_number"} & set(form.changed_data):
                    answer = obj.correct_team_id if obj.kind == BonusQuestion.Kind.TEAM else obj.correct_number
                    bonus_question_settle(question_id=obj.pk, answer=answer, actor=request.user)
                    self.message_user(
                        request, "The question will be settled again: standings move by the difference.",
                        messages.WARNING,
                    )  # fmt: skip
        except ApplicationError as exc:
            self.message_user(request, f"Nothing was saved: {exc.message}", messages.ERROR)

    @admin.action(description="Un-settle (take the question's points back)", permissions=["change"])
    def unsettle(self, request, queryset):
        self._settle(request, queryset, lambda question: None)

    @admin.action(description="Settle again now with the current answer", permissions=["change"])
    def settle_again(self, request, queryset):
        self._settle(request, queryset, lambda question: question.correct_answer)

    def _settle(self, request, queryset, answer_of) -> None:
        for question in queryset:
            try:
                bonus_question_settle(question_id=question.pk, answer=answer_of(question), actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{question}: {exc.message}", messages.WARNING)
        self.message_user(request, "Queued the settlement of the selected questions.", messages.SUCCESS)
