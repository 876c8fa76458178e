"""Prometheus metrics of ingestion, registered once per process on import.

Python imports a module once, so defining the collectors at module level keeps
the default registry free of duplicates however many times callers import it.
"""

from prometheus_client import Counter, Histogram

executions = Counter(
    "scoreboard_ingestion_executions_total",
    "Ingestion executions by provider and outcome.",
    ["provider", "outcome"],
)
execution_seconds = Histogram(
    "scoreboard_ingestion_execution_duration_seconds",
    "Wall time of one ingestion execution, fetch to commit.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
provider_http_seconds = Histogram(
    "scoreboard_ingestion_provider_http_seconds",
    "Latency of provider HTTP requests that got an answer.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
provider_http_errors = Counter(
    "scoreboard_ingestion_provider_http_errors_total",
    "Provider HTTP requests that failed: timeout, connection, or the HTTP status.",
    ["provider", "reason"],
)
