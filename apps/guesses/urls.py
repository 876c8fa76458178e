from django.urls import path

from apps.guesses.apis import MatchGuessApi, MatchGuessListApi, MatchGuessSummaryApi, MyGuessListApi

urlpatterns = [
    path("matches/<int:match_id>/guess", MatchGuessApi.as_view(), name="match-guess"),
    path("matches/<int:match_id>/guesses", MatchGuessListApi.as_view(), name="match-guesses"),
    path("matches/<int:match_id>/guesses/summary", MatchGuessSummaryApi.as_view(), name="match-guesses-summary"),
    path("me/guesses", MyGuessListApi.as_view(), name="me-guesses"),
]
