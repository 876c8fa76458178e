from rest_framework import serializers

from apps.leagues.models import League
from apps.members.serializers import MemberRefSerializer

MAX_ID = 2**63 - 1


class LeagueCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)


class LeagueJoinInputSerializer(serializers.Serializer):
    invite_code = serializers.CharField(max_length=64)


class LeagueFilterSerializer(serializers.Serializer):
    tournament = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)


class LeagueOutputSerializer(serializers.ModelSerializer):
    """A league as its members see it; expects `owner` selected and `member_count` annotated."""

    tournament = serializers.IntegerField(source="tournament_id")
    owner = MemberRefSerializer()
    member_count = serializers.IntegerField()

    class Meta:
        model = League
        fields = ["id", "name", "tournament", "invite_code", "owner", "member_count"]
