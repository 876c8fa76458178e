from rest_framework import serializers

from apps.ingestion.models import Execution, ExecutionStep


class IngestionInputSerializer(serializers.Serializer):
    tournament = serializers.IntegerField(min_value=1)
    operation = serializers.ChoiceField(choices=Execution.Operation.choices)


class IngestionQueuedOutputSerializer(serializers.Serializer):
    execution_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()


class ExecutionStepOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExecutionStep
        fields = ("name", "detail", "count", "at")


class ExecutionOutputSerializer(serializers.ModelSerializer):
    tournament = serializers.PrimaryKeyRelatedField(read_only=True)
    triggered_by = serializers.PrimaryKeyRelatedField(read_only=True)
    steps = ExecutionStepOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Execution
        fields = (
            "id",
            "status",
            "operation",
            "provider",
            "source",
            "tournament",
            "trigger",
            "triggered_by",
            "retry_of",
            "request_id",
            "created_at",
            "started_at",
            "finished_at",
            "steps",
            "report",
            "error",
        )
