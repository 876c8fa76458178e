"""Reads about members and their pins."""

from apps.common.errors import NotFound
from apps.members.models import Member, Pin


def member_get(*, member_id: int) -> Member:
    """An active member; a deactivated one is not found (nobody can follow or pin them)."""
    member = Member.objects.filter(pk=member_id, is_active=True).first()
    if member is None:
        raise NotFound("member_not_found", "No member has this id.")
    return member


def pin_list(*, member_id: int) -> list[dict]:
    """The member's pins as [{id, display_name}], oldest pin first."""
    return [
        {"id": pinned_id, "display_name": display_name or username}
        for pinned_id, display_name, username in Pin.objects.filter(member_id=member_id)
        .order_by("id")
        .values_list("pinned_id", "pinned__display_name", "pinned__username")
    ]


def pin_ids(*, member_id: int) -> list[int]:
    """The ids of the members the member pinned (one index range read)."""
    return list(Pin.objects.filter(member_id=member_id).values_list("pinned_id", flat=True))
