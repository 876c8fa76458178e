from django.urls import re_path

from apps.leaderboards.consumers import LeagueLeaderboardConsumer, TournamentLeaderboardConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/tournaments/(?P<board_id>\d+)/leaderboard/$",
        TournamentLeaderboardConsumer.as_asgi(),
        name="ws-tournament-leaderboard",
    ),
    re_path(
        r"^ws/leagues/(?P<board_id>\d+)/leaderboard/$",
        LeagueLeaderboardConsumer.as_asgi(),
        name="ws-league-leaderboard",
    ),
]
