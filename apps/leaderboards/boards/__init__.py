"""Boards: board names, ranking rules, the Redis projection (read and write halves) and board reads.

Imports neither `settlement` nor `live`; they import it.
"""
