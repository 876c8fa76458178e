"""A member's achievements and the catalogue (API.md). Public, like member stats."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.leaderboards.achievements.selectors import achievement_catalogue, member_achievements
from apps.leaderboards.achievements.serializers import AchievementOutputSerializer, CatalogueEntryOutputSerializer


def _public() -> dict:
    return {"Cache-Control": f"public, max-age={settings.LEADERBOARD_CACHE_SECONDS}"}


class MemberAchievementsApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        operation_id="tournaments_member_achievements",
        responses={
            200: AchievementOutputSerializer(many=True),
            404: OpenApiResponse(description="tournament_not_found, or not_participating"),
        },
    )
    def get(self, request, tournament_id: int, member_id: int):
        rows = member_achievements(tournament_id=tournament_id, member_id=member_id)
        return Response(AchievementOutputSerializer(rows, many=True).data, headers=_public())


class AchievementCatalogueApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        operation_id="tournaments_achievements_catalogue",
        responses={
            200: CatalogueEntryOutputSerializer(many=True),
            404: OpenApiResponse(description="tournament_not_found"),
        },
    )
    def get(self, request, tournament_id: int):
        rows = achievement_catalogue(tournament_id=tournament_id)
        return Response(CatalogueEntryOutputSerializer(rows, many=True).data, headers=_public())
