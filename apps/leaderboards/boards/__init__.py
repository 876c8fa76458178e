"""Boards: board names, ranking rules, the Redis projection (read and write halves), board reads and rank
snapshots (`snapshots`).

Imports neither `settlement` nor `live`; they import it.
"""
