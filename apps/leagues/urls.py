from django.urls import path

from apps.leagues.apis import (
    LeagueCreateApi,
    LeagueDetailApi,
    LeagueInviteCodeApi,
    LeagueJoinApi,
    LeagueMemberRemoveApi,
    MyLeagueListApi,
)

urlpatterns = [
    path("tournaments/<int:tournament_id>/leagues", LeagueCreateApi.as_view(), name="league-create"),
    path("leagues/join", LeagueJoinApi.as_view(), name="league-join"),
    path("me/leagues", MyLeagueListApi.as_view(), name="me-leagues"),
    path("leagues/<int:league_id>", LeagueDetailApi.as_view(), name="league-detail"),
    path("leagues/<int:league_id>/invite_code", LeagueInviteCodeApi.as_view(), name="league-invite-code"),
    path(
        "leagues/<int:league_id>/members/<int:member_id>", LeagueMemberRemoveApi.as_view(), name="league-member-remove"
    ),
]
