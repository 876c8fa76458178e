"""Prometheus metrics of the Redis projection. Module-level: importing twice never registers twice."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

redis_write_seconds = Histogram(
    "scoreboard_leaderboard_redis_write_seconds",
    "Latency of one projection move (pipelined sorted-set writes) in Redis.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
redis_write_errors = Counter(
    "scoreboard_leaderboard_redis_write_errors_total",
    "Projection writes that failed; the projection is marked stale and rebuilt.",
)


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)
