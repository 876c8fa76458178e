from django.urls import path

from apps.leaderboards.achievements.apis import AchievementCatalogueApi, MemberAchievementsApi

urlpatterns = [
    path(
        "tournaments/<int:tournament_id>/members/<int:member_id>/achievements",
        MemberAchievementsApi.as_view(),
        name="tournament-member-achievements",
    ),
    path("tournaments/<int:tournament_id>/achievements", AchievementCatalogueApi.as_view(), name="tournament-achievements"),
]
