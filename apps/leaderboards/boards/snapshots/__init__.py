"""Rank snapshots (SCORING.md "Rank snapshots and history"): every board's ranks recorded at a moment.

- `record`: writes a snapshot (one INSERT ... SELECT under the tournament lock)
  and bumps the boards' version, so cached pages showing `rank_delta` change;
- `projection`: the latest snapshot's ranks in Redis, read by the board scripts;
- `selectors`: the latest snapshot, ranks at it for the database path, a
  member's history, the tournaments whose daily snapshot is due;
- `tasks`: the Celery jobs (a staff snapshot, the daily beat);
- `operations`: what staff start (audited).
"""
