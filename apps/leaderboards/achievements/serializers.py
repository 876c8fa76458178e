from rest_framework import serializers


class AchievementOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    earned_at = serializers.DateTimeField()


class CatalogueEntryOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
