from django.urls import re_path

from apps.leaderboards.consumers import LeaderboardConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/tournaments/(?P<board_id>\d+)/leaderboard/$",
        LeaderboardConsumer.as_asgi(board_kind="tournament"),
        name="ws-tournament-leaderboard",
    ),
    re_path(
        r"^ws/leagues/(?P<board_id>\d+)/leaderboard/$",
        LeaderboardConsumer.as_asgi(board_kind="league"),
        name="ws-league-leaderboard",
    ),
]
