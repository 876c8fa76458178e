from django.urls import path

from apps.leaderboards.boards.apis import (
    LeagueLeaderboardApi,
    LeagueLeaderboardMeApi,
    LeagueLeaderboardPreviewApi,
    LeagueLeaderboardSearchApi,
    MemberHistoryApi,
    MemberStatsApi,
    TournamentLeaderboardApi,
    TournamentLeaderboardMeApi,
    TournamentLeaderboardPreviewApi,
    TournamentLeaderboardSearchApi,
    TournamentSnapshotApi,
)

urlpatterns = [
    path("tournaments/<int:tournament_id>/leaderboard", TournamentLeaderboardApi.as_view(), name="tournament-leaderboard"),
    path(
        "tournaments/<int:tournament_id>/leaderboard/me",
        TournamentLeaderboardMeApi.as_view(),
        name="tournament-leaderboard-me",
    ),
    path(
        "tournaments/<int:tournament_id>/leaderboard/search",
        TournamentLeaderboardSearchApi.as_view(),
        name="tournament-leaderboard-search",
    ),
    path(
        "tournaments/<int:tournament_id>/leaderboard/preview",
        TournamentLeaderboardPreviewApi.as_view(),
        name="tournament-leaderboard-preview",
    ),
    path("leagues/<int:league_id>/leaderboard", LeagueLeaderboardApi.as_view(), name="league-leaderboard"),
    path(
        "leagues/<int:league_id>/leaderboard/search",
        LeagueLeaderboardSearchApi.as_view(),
        name="league-leaderboard-search",
    ),
    path(
        "leagues/<int:league_id>/leaderboard/preview",
        LeagueLeaderboardPreviewApi.as_view(),
        name="league-leaderboard-preview",
    ),
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
