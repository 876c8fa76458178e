from django.urls import include, path

urlpatterns = [
    path("", include("apps.leaderboards.urls_leagues")),
    path("", include("apps.leaderboards.urls_boards")),
    path("", include("apps.leaderboards.urls_live")),
]
