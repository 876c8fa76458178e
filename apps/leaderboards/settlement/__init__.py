"""Settlement: requests, claims, batches, standings, score actions, corrections and the sweeper.

Imports `boards`; tells the live push that boards changed through
`boards.signals.boards_changed_send`, never by importing `live`.
"""
