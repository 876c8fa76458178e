from django.apps import AppConfig


class GuessesConfig(AppConfig):
    name = "apps.guesses"
    label = "guesses"
