from django.utils import timezone
from rest_framework import serializers

from apps.common.serializers import DayOrDateTimeField
from apps.matches.models import Match, Participation, Round, Team, Tournament
from apps.matches.selectors import guess_window_open

MAX_ID = 2**63 - 1


class ScoringSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tournament
        fields = [
            "points_exact",
            "points_goal_difference",
            "points_outcome",
            "counted_result",
            "lock_minutes",
            "jokers_per_round",
        ]


class TournamentOutputSerializer(serializers.ModelSerializer):
    scoring = ScoringSerializer(source="*", read_only=True)

    class Meta:
        model = Tournament
        fields = ["id", "name", "slug", "starts_at", "ends_at", "status", "scoring"]


class RoundOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Round
        fields = ["id", "name", "order", "multiplier"]


class TournamentDetailOutputSerializer(TournamentOutputSerializer):
    rounds = RoundOutputSerializer(many=True, read_only=True)

    class Meta(TournamentOutputSerializer.Meta):
        fields = [*TournamentOutputSerializer.Meta.fields, "rounds"]


class ParticipationOutputSerializer(serializers.ModelSerializer):
    tournament = serializers.IntegerField(source="tournament_id")

    class Meta:
        model = Participation
        fields = ["tournament", "joined_at"]


class TeamOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "code"]


class MatchOutputSerializer(serializers.ModelSerializer):
    """A match with its counted result and whether guesses are frozen.

    Expects the match with `tournament`, `home_team` and `away_team` selected.
    `now` in the context fixes one clock for a whole page.
    """

    tournament = serializers.IntegerField(source="tournament_id")
    round = serializers.IntegerField(source="round_id")
    home_team = TeamOutputSerializer()
    away_team = TeamOutputSerializer()
    home_score = serializers.SerializerMethodField()
    away_score = serializers.SerializerMethodField()
    locked = serializers.SerializerMethodField()

    class Meta:
        model = Match
        fields = [
            "id",
            "tournament",
            "round",
            "home_team",
            "away_team",
            "kickoff_at",
            "status",
            "home_score",
            "away_score",
            "result_version",
            "locked",
        ]

    def _now(self):
        if "now" not in self.context:
            self.context["now"] = timezone.now()
        return self.context["now"]

    def get_home_score(self, match: Match) -> int | None:
        score = match.counted_score()
        return None if score is None else score[0]

    def get_away_score(self, match: Match) -> int | None:
        score = match.counted_score()
        return None if score is None else score[1]

    def get_locked(self, match: Match) -> bool:
        return not guess_window_open(match=match, now=self._now())


class MatchFilterSerializer(serializers.Serializer):
    round = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    status = serializers.ChoiceField(required=False, choices=Match.Status.choices)
    date_from = DayOrDateTimeField(required=False, help_text="A date (whole UTC day) or an ISO 8601 date-time.")
    date_to = DayOrDateTimeField(
        required=False, end_of_day=True, help_text="Inclusive: a date covers the whole UTC day."
    )

    def validate(self, attrs):
        if "date_from" in attrs and "date_to" in attrs and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["date_to must not be before date_from."]})
        return attrs
