from django.urls import path

from apps.leaderboards.boards.apis import (
    LeagueLeaderboardApi,
    LeagueLeaderboardMeApi,
    MemberHistoryApi,
    MemberStatsApi,
    TournamentLeaderboardApi,
    TournamentLeaderboardMeApi,
    TournamentSnapshotApi,
)

urlpatterns = [
    path("tournaments/<int:tournament_id>/leaderboard", TournamentLeaderboardApi.as_view(), name="tournament-leaderboard"),
    path(
        "tournaments/<int:tournament_id>/leaderboard/me",
        TournamentLeaderboardMeApi.as_view(),
        name="tournament-leaderboard-me",
    ),
    path("leagues/<int:league_id>/leaderboard", LeagueLeaderboardApi.as_view(), name="league-leaderboard"),
    path("leagues/<int:league_id>/leaderboard/me", LeagueLeaderboardMeApi.as_view(), name="league-leaderboard-me"),
    path(
        "tournaments/<int:tournament_id>/members/<int:member_id>/stats",
        MemberStatsApi.as_view(),
        name="tournament-member-stats",
    ),
    path(
        "tournaments/<int:tournament_id>/members/<int:member_id>/history",
        MemberHistoryApi.as_view(),
        name="tournament-member-history",
    ),
    path("admin/tournaments/<int:tournament_id>/snapshot", TournamentSnapshotApi.as_view(), name="admin-tournament-snapshot"),
]
