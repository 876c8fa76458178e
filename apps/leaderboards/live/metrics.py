"""Prometheus metrics of the live push."""

from prometheus_client import Counter, Gauge, Histogram

LIVE_CLIENTS = Gauge("scoreboard_live_clients", "Clients connected to live top-10 streams.", ["transport"])
LIVE_PUBLISHED = Counter(
    "scoreboard_live_messages_published_total", "Top-10 updates published (one per board change).", ["kind"]
)
LIVE_SENT = Counter("scoreboard_live_messages_sent_total", "Live messages written to clients.", ["transport"])
LIVE_LAG = Histogram(
    "scoreboard_live_delivery_lag_seconds",
    "From the settlement commit to the last local client written, per update and process.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LIVE_DROPPED = Counter(
    "scoreboard_live_clients_dropped_total",
    "Live clients disconnected because their unsent output passed LIVE_MAX_BUFFERED_BYTES.",
    ["transport"],
)
LIVE_REFUSED = Counter(
    "scoreboard_live_connections_refused_total",
    "Live connections refused because their address held LIVE_MAX_CONNECTIONS_PER_IP in this process.",
    ["transport"],
)
LIVE_RANK_READS = Counter(
    "scoreboard_live_rank_reads_total",
    "Batches of members' ranks read for their own streams (one per batch of members, board version and process).",
)
LIVE_RANK_FAN_OUT = Histogram(
    "scoreboard_live_rank_fan_out_seconds",
    "From a board version announced to the last rank message of this process's members on the board written.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
for _transport in ("websocket", "sse"):
    LIVE_CLIENTS.labels(_transport)
    LIVE_SENT.labels(_transport)
    LIVE_DROPPED.labels(_transport)
    LIVE_REFUSED.labels(_transport)
