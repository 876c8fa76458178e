from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from apps.members.models import Member


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class RegisteredMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = Member
        fields = ["id", "username", "display_name"]


class MeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Member
        fields = ["id", "username", "display_name", "date_joined"]


class MeUpdateInputSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=64, required=False)


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class MemberRefSerializer(serializers.Serializer):
    """How other resources name a member: never more than this."""

    id = serializers.IntegerField()
    display_name = serializers.CharField(source="public_name")


class PinOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The pinned member's id.")
    display_name = serializers.CharField()
