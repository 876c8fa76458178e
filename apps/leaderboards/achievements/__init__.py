"""Achievements (SCORING.md "Achievements"): the catalogue, their evaluation, their announcement and their reads.

Imports no other package of apps/leaderboards: settlement calls it after each
request, the rank snapshots (in boards) may call it after each snapshot, and
the member's live stream may listen to its signal.
"""
