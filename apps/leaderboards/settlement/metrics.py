"""Prometheus metrics of settlement, score actions and the settlement outbox.

Collectors are module-level so importing this module twice never registers
them twice. The outbox collector queries the database when /metrics is
scraped, so depth and lag are exact at that moment and cost nothing between
scrapes.
"""

import logging

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from apps.leaderboards.settlement.selectors import settlement_outbox_stats

logger = logging.getLogger(__name__)

settlement_seconds = Histogram(
    "scoreboard_settlement_duration_seconds",
    "Wall time of one settlement request, claim to done (database and projection).",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160),
)
settlement_rows_per_second = Histogram(
    "scoreboard_settlement_rows_per_second",
    "Guesses walked per second by one settlement request.",
    buckets=(1e3, 1e4, 5e4, 1e5, 2e5, 4e5, 8e5, 1.6e6),
)
settlement_guesses = Counter(
    "scoreboard_settlement_guesses_total", "Guesses walked by settlement batches."
)
question_answers = Counter(
    "scoreboard_question_answers_total", "Bonus answers walked by question settlement batches."
)
settlement_outcomes = Counter(
    "scoreboard_settlement_jobs_total",
    "Settlement job runs by outcome: success, retry, failed, noop (replayed or superseded), handed_back (its worker stopped).",
    ["outcome"],
)
database_write_seconds = Histogram(
    "scoreboard_leaderboard_database_write_seconds",
    "Latency of one settlement batch or score-action transaction in PostgreSQL.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
score_actions = Counter(
    "scoreboard_score_actions_total",
    "Score actions by outcome: requests accepted, replayed, limited; awards applied by workers (applied).",
    ["outcome"],
)


class OutboxCollector(Collector):
    """Depth of the settlement outbox and the age of its oldest unfinished request."""

    def collect(self):
        depth = GaugeMetricFamily(
            "scoreboard_settlement_outbox_depth", "Settlement requests by status.", labels=["status"]
        )
        lag = GaugeMetricFamily(
            "scoreboard_settlement_lag_seconds",
            "Age of the oldest settlement request still pending or in progress (0 when none).",
        )
        try:
            stats = settlement_outbox_stats()
        except Exception as exc:  # a scrape must never fail because the database is away
            logger.warning("outbox metrics unavailable: %s", exc)
            return
        for status, count in stats["by_status"].items():
            depth.add_metric([status], count)
        lag.add_metric([], stats["oldest_unfinished_age"])
        yield depth
        yield lag

    def describe(self):
        # Describing without collecting keeps registration free of database access.
        return [
            GaugeMetricFamily("scoreboard_settlement_outbox_depth", "", labels=["status"]),
            GaugeMetricFamily("scoreboard_settlement_lag_seconds", ""),
        ]


_outbox_collector: OutboxCollector | None = None


def outbox_collector_register() -> None:
    global _outbox_collector
    if _outbox_collector is None:
        _outbox_collector = OutboxCollector()
        REGISTRY.register(_outbox_collector)
