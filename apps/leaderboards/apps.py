from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    name = "apps.leaderboards"
    label = "leaderboards"

    def ready(self) -> None:
        # Imported once the app registry is ready (they import models): the
        # receivers of other apps' signals, the live publisher (the receiver of
        # boards_changed), the live streams' access receivers and the outbox collector of /metrics.
        from apps.leaderboards.boards import receivers as board_receivers  # noqa: F401  (connects receivers)
        from apps.leaderboards.live import publisher  # noqa: F401  (connects the live push)
        from apps.leaderboards.live import receivers as live_receivers  # noqa: F401  (closes streams whose access ended)
        from apps.leaderboards.settlement import receivers as settlement_receivers  # noqa: F401  (connects receivers)
        from apps.leaderboards.settlement.metrics import outbox_collector_register  # needs models, see above

        outbox_collector_register()
