"""Metrics served by Celery workers (which serve no HTTP of their own), and the web's board-read counter."""

import logging
import os

from prometheus_client import Counter

logger = logging.getLogger(__name__)


def worker_metrics_serve() -> int | None:
    """Serve this worker process's Prometheus metrics when WORKER_METRICS_PORT is set.

    Each prefork child counts its own jobs, so child N listens on port + N
    (children are numbered from 0); returns the port, or None when off.
    """
    base = os.environ.get("WORKER_METRICS_PORT")
    if not base:
        return None
    from billiard import current_process
    from prometheus_client import start_http_server

    port = int(base) + (getattr(current_process(), "index", 0) or 0)
    try:
        start_http_server(port)
    except OSError as exc:
        logger.warning("worker metrics port %s unavailable: %s", port, exc)
        return None
    return port


# Counted by apps.common.middleware from each board read's X-Leaderboard-Source answer, so the
# share of reads that fell back to PostgreSQL (Redis away or being rebuilt) is visible per process.
leaderboard_reads = Counter(
    "scoreboard_leaderboard_reads_total",
    "Leaderboard page reads by the store that answered: redis, or database (the fallback).",
    ["source"],
)
for _source in ("redis", "database"):
    leaderboard_reads.labels(_source)
