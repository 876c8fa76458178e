from django.urls import path

from apps.leaderboards.settlement.apis import (
    MatchSettleApi,
    QuestionSettleApi,
    ScoreActionListApi,
    ScoreActionSubmitApi,
)

urlpatterns = [
    path("tournaments/<int:tournament_id>/actions", ScoreActionListApi.as_view(), name="tournament-actions"),
    path(
        "tournaments/<int:tournament_id>/actions/<slug:code>",
        ScoreActionSubmitApi.as_view(),
        name="tournament-action-submit",
    ),
    path("admin/matches/<int:match_id>/settle", MatchSettleApi.as_view(), name="admin-match-settle"),
    path("admin/questions/<int:question_id>/settle", QuestionSettleApi.as_view(), name="admin-question-settle"),
]
