from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    name = "apps.leaderboards"
    label = "leaderboards"

    def ready(self) -> None:
        # Connect the receivers of other apps' signals and the live push, and
        # count the outbox on /metrics. Imported here because receivers need
        # the app registry ready (they import models).
        from apps.leaderboards.boards import receivers as board_receivers  # noqa: F401
        from apps.leaderboards.live import publisher  # noqa: F401
        from apps.leaderboards.settlement import receivers as settlement_receivers  # noqa: F401
        from apps.leaderboards.settlement.metrics import outbox_collector_register

        outbox_collector_register()
