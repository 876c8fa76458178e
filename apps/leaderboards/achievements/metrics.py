"""Prometheus metrics of the achievements evaluation (module-level: registered once)."""

from prometheus_client import Counter, Histogram

evaluations = Counter(
    "scoreboard_achievement_evaluations_total",
    "Achievement evaluations after a settlement request, by outcome (done, failed).",
    ["outcome"],
)
evaluation_seconds = Histogram(
    "scoreboard_achievement_evaluation_seconds",
    "Wall time of one achievement evaluation after a settlement request that moved a final result.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40),
)
