from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    name = "apps.leaderboards"
    label = "leaderboards"

    def ready(self) -> None:
        from apps.leaderboards.metrics import outbox_collector_register

        outbox_collector_register()
