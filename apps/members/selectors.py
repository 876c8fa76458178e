"""Reads about members."""

from apps.common.errors import NotFound
from apps.members.models import Member


def member_get(*, member_id: int) -> Member:
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        raise NotFound("member_not_found", "No member has this id.")
    return member
