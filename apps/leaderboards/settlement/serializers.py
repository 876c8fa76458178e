from rest_framework import serializers


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
