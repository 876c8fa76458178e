from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.matches.models import BonusQuestion
from apps.matches.serializers import TeamOutputSerializer


@extend_schema_field(OpenApiTypes.INT)
class AnswerField(serializers.Field):
    """A JSON integer: a team id (kind `team`) or a number 0..999 (kind `number`). Strings and booleans are refused."""

    default_error_messages = {"invalid": "A whole number is required (a team id or a number)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if not 0 <= data <= 2**63 - 1:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class AnswerInputSerializer(serializers.Serializer):
    answer = AnswerField()


class AnswerOutputSerializer(serializers.Serializer):
    question = serializers.IntegerField(source="question_id")
    answer = serializers.IntegerField()
    points = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_points(self, answer) -> int | None:
        return self.context["points"]


class QuestionOutputSerializer(serializers.ModelSerializer):
    """A question with the caller's own answer; `context`: `now`, `answers` (question id -> own answer)."""

    closed = serializers.SerializerMethodField()
    options = serializers.SerializerMethodField()
    my_answer = serializers.SerializerMethodField()
    correct_answer = serializers.SerializerMethodField()

    class Meta:
        model = BonusQuestion
        fields = ["id", "text", "kind", "points", "closes_at", "closed", "options", "my_answer", "correct_answer"]

    def get_closed(self, question: BonusQuestion) -> bool:
        return self.context["now"] >= question.closes_at

    @extend_schema_field(TeamOutputSerializer(many=True, allow_null=True))
    def get_options(self, question: BonusQuestion):
        if question.kind != BonusQuestion.Kind.TEAM:
            return None
        return TeamOutputSerializer(question.tournament.teams.all(), many=True).data

    def get_my_answer(self, question: BonusQuestion) -> int | None:
        answer = self.context["answers"].get(question.pk)
        return None if answer is None else answer.answer

    def get_correct_answer(self, question: BonusQuestion) -> int | None:
        return question.correct_answer


class SummaryRowSerializer(serializers.Serializer):
    answer = serializers.IntegerField()
    count = serializers.IntegerField()


class SummaryOutputSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    answers = SummaryRowSerializer(many=True)
