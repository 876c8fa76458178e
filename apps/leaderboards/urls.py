from django.urls import include, path

urlpatterns = [
    path("", include("apps.leaderboards.boards.urls")),
    path("", include("apps.leaderboards.settlement.urls")),
    path("", include("apps.leaderboards.live.urls")),
    path("", include("apps.leaderboards.achievements.urls")),
]
