"""Live top-10 publishing: the boundary between settlement and the push transports.

Settlement and score actions call `boards_changed` after their transaction
commits, with the boards whose standings moved. Board keys are
"tournament:{id}" and "league:{id}".
"""

from collections.abc import Iterable


def boards_changed(*, boards: Iterable[str]) -> None:
    """Publish the new top 10 of each board whose top 10 changed and that has live subscribers."""
    # Filled in by the live transports; until then nothing is subscribed.
    return None
