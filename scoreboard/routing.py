from channels.routing import URLRouter
from django.urls import re_path

from apps.leaderboards.live.consumers import (
    LeagueLeaderboardConsumer,
    MemberRankConsumer,
    TournamentLeaderboardConsumer,
)
from apps.leaderboards.live.sse import EventStreamHandler

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
    re_path(r"^ws/me/$", MemberRankConsumer.as_asgi(), name="ws-me"),
]


def http_application(django_asgi_app):
    """HTTP: the live event streams on a handler of their own, everything else to Django's."""
    return URLRouter(
        [
            re_path(r"^api/v1/(?:(?:tournaments|leagues)/\d+/leaderboard|me)/events$", EventStreamHandler()),
            re_path(r"", django_asgi_app),
        ]
    )
