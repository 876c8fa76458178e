from django.urls import path

from apps.leaderboards.live.sse import league_leaderboard_events, member_events, tournament_leaderboard_events

urlpatterns = [
    path(
        "tournaments/<int:tournament_id>/leaderboard/events",
        tournament_leaderboard_events,
        name="tournament-leaderboard-events",
    ),
    path("leagues/<int:league_id>/leaderboard/events", league_leaderboard_events, name="league-leaderboard-events"),
    path("me/events", member_events, name="me-events"),
]
