from django.urls import path

from apps.guesses.apis import MatchGuessApi, MatchGuessListApi, MyGuessListApi

urlpatterns = [
    path("matches/<int:match_id>/guess", MatchGuessApi.as_view(), name="match-guess"),
    path("matches/<int:match_id>/guesses", MatchGuessListApi.as_view(), name="match-guesses"),
    path("me/guesses", MyGuessListApi.as_view(), name="me-guesses"),
]
