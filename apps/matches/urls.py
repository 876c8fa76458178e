from django.urls import path

from apps.matches.apis import (
    MatchDetailApi,
    TournamentDetailApi,
    TournamentJoinApi,
    TournamentListApi,
    TournamentMatchListApi,
)

from apps.matches.question_apis import QuestionAnswerApi, QuestionAnswerSummaryApi, TournamentQuestionListApi

urlpatterns = [
    path("tournaments", TournamentListApi.as_view(), name="tournament-list"),
    path("tournaments/<int:tournament_id>", TournamentDetailApi.as_view(), name="tournament-detail"),
    path("tournaments/<int:tournament_id>/join", TournamentJoinApi.as_view(), name="tournament-join"),
    path("tournaments/<int:tournament_id>/matches", TournamentMatchListApi.as_view(), name="tournament-matches"),
    path("matches/<int:match_id>", MatchDetailApi.as_view(), name="match-detail"),
    path("tournaments/<int:tournament_id>/questions", TournamentQuestionListApi.as_view(), name="tournament-questions"),
    path("questions/<int:question_id>/answer", QuestionAnswerApi.as_view(), name="question-answer"),
    path(
        "questions/<int:question_id>/answers/summary",
        QuestionAnswerSummaryApi.as_view(),
        name="question-answers-summary",
    ),
]
