from rest_framework import serializers

from apps.matches.question_serializers import AnswerField


class SettleOutputSerializer(serializers.Serializer):
    job_id = serializers.IntegerField(help_text="The settlement request id.")


class ScoreActionOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    points = serializers.IntegerField()
    limit = serializers.IntegerField()
    period = serializers.CharField()


class ScoreActionInputSerializer(serializers.Serializer):
    idempotency_key = serializers.UUIDField()


class ScoreActionResultSerializer(serializers.Serializer):
    status = serializers.CharField()


class QuestionSettleInputSerializer(serializers.Serializer):
    answer = AnswerField(allow_null=True, help_text="The correct answer (a team id or a number); null un-settles.")
