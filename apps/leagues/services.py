"""Leagues: private groups inside a tournament, joined with an invite code.

Ownership: the owner is always a member. When the owner leaves (or is the
member removed), ownership passes to the earliest remaining member (by join
time, then member id); when the last member leaves, the league is deleted.
"""

import secrets

from django.db import IntegrityError, transaction

from apps.common.audit import Action, audit_record
from apps.common.errors import Forbidden, NotFound
from apps.leagues.models import League, LeagueMembership
from apps.leagues.selectors import league_get_for_member, league_is_member
from apps.leagues.signals import league_membership_changed
from apps.matches.selectors import tournament_get
from apps.matches.services import participation_join

# 9 random bytes: 12 URL-safe characters, 72 bits. Codes are guessed only
# through the throttled API, so a hit by chance stays out of reach.
INVITE_CODE_BYTES = 9
_CODE_ATTEMPTS = 5


def invite_code_new() -> str:
    return secrets.token_urlsafe(INVITE_CODE_BYTES)


def _save_with_fresh_code(league: League) -> None:
    # A collision is astronomically unlikely; the unique index still has the
    # last word, so retry with another code rather than fail.
    update_fields = ["invite_code", "updated_at"] if league.pk else None
    for attempt in range(_CODE_ATTEMPTS):
        league.invite_code = invite_code_new()
        try:
            with transaction.atomic():
                league.save(update_fields=update_fields)
            return
        except IntegrityError:
            if attempt == _CODE_ATTEMPTS - 1:
                raise


def league_create(*, tournament_id: int, owner_id: int, name: str) -> League:
    """Create a league; its owner becomes its first member and a participant of the tournament."""
    tournament_get(tournament_id=tournament_id)
    with transaction.atomic():
        participation_join(tournament_id=tournament_id, member_id=owner_id)
        league = League(tournament_id=tournament_id, owner_id=owner_id, name=name.strip())
        _save_with_fresh_code(league)
        LeagueMembership.objects.create(league=league, member_id=owner_id)
        _membership_changed(league=league, member_id=owner_id, joined=True)
    return league_get_for_member(league_id=league.pk, member_id=owner_id)


def league_join(*, member_id: int, invite_code: str) -> League:
    """Join the league of `invite_code` (and its tournament); joining again is not an error."""
    league = League.objects.filter(invite_code=invite_code).first()
    if league is None:
        raise NotFound("invalid_invite_code", "No league has this invite code.")
    league_member_add(league=league, member_id=member_id)
    return league_get_for_member(league_id=league.pk, member_id=member_id)


def league_member_add(*, league: League, member_id: int) -> LeagueMembership:
    """Add a member to the league and to its tournament; adding again returns the first membership."""
    with transaction.atomic():
        participation_join(tournament_id=league.tournament_id, member_id=member_id)
        membership, created = LeagueMembership.objects.get_or_create(league=league, member_id=member_id)
        if created:
            _membership_changed(league=league, member_id=member_id, joined=True)
    return membership


def _membership_changed(*, league: League, member_id: int, joined: bool) -> None:
    # Sent inside the transaction: receivers defer what lies outside the
    # database (the league's Redis set, open live streams) to its commit.
    league_membership_changed.send(
        sender=League, league_id=league.pk, tournament_id=league.tournament_id, member_id=member_id, joined=joined
    )


def _league_locked(*, league_id: int) -> League:
    # Locking the league row serialises ownership changes and code rotations of one league.
    league = League.objects.select_for_update().filter(pk=league_id).first()
    if league is None:
        raise NotFound("league_not_found", "No league has this id.")
    return league


def _code_tail(code: str) -> dict:
    # The audit trail shows which code was valid, not the code: a full code would let its reader in.
    return {"invite_code_ends": code[-4:]}


def _code_rotate_audited(*, league: League, actor) -> None:
    before = _code_tail(league.invite_code)
    _save_with_fresh_code(league)
    after = _code_tail(league.invite_code)
    audit_record(actor=actor, action=Action.LEAGUE_CODE_ROTATED, target=league, before=before, after=after)


def league_invite_code_rotate(*, league_id: int, member_id: int) -> League:
    """Give the league a new invite code; the old one stops working at once. Owner only."""
    with transaction.atomic():
        league = _league_locked(league_id=league_id)
        if league.owner_id != member_id:
            raise Forbidden("not_league_owner", "Only the owner of this league can change its invite code.")
        _code_rotate_audited(league=league, actor=f"member:{member_id}")
    return league_get_for_member(league_id=league_id, member_id=member_id)


def league_invite_code_reset(*, league_id: int, actor=None) -> League:
    """Staff's rotation (a leaked code): the same as the owner's, without the owner check."""
    with transaction.atomic():
        league = _league_locked(league_id=league_id)
        _code_rotate_audited(league=league, actor=actor)
    return league


def league_member_remove(*, league_id: int, actor_id: int, member_id: int, actor=None) -> None:
    """Remove `member_id` from the league: a member may remove itself, the owner anyone.

    When the owner removes someone else, the invite code is rotated in the same
    transaction: the removed member knows the old code and must not walk back
    in with it; the owner shares the new one with whoever should join. A member
    who leaves by itself keeps the code working (it may come back).
    See the module docstring for what happens when the owner leaves.

    A removal by someone else is audited (`league_member_removed`); a member
    leaving by itself is not. `actor` names who acted when it is not
    `actor_id` itself: staff in the admin act with the owner's rights.
    """
    with transaction.atomic():
        league = _league_locked(league_id=league_id)
        if actor_id != league.owner_id:
            if not league_is_member(league_id=league.pk, member_id=actor_id):
                raise Forbidden("not_league_member", "Only members of this league can change it.")
            if actor_id != member_id:
                raise Forbidden("not_league_owner", "Only the owner can remove other members.")
        deleted, _ = LeagueMembership.objects.filter(league_id=league.pk, member_id=member_id).delete()
        if not deleted:
            raise NotFound("league_member_not_found", "This member is not in the league.")
        _membership_changed(league=league, member_id=member_id, joined=False)
        if actor is not None or actor_id != member_id:
            audit_record(
                actor=actor or f"member:{actor_id}",
                action=Action.LEAGUE_MEMBER_REMOVED,
                target=league,
                before={"member": member_id, "owner": league.owner_id},
                after={"member": None, "invite_code_rotated": actor_id != member_id},
            )
        if actor_id != member_id:
            _save_with_fresh_code(league)
        if member_id != league.owner_id:
            return
        successor = (
            LeagueMembership.objects.filter(league_id=league.pk).order_by("joined_at", "id").only("member_id").first()
        )
        if successor is None:
            league.delete()
        else:
            league.owner_id = successor.member_id
            league.save(update_fields=["owner", "updated_at"])
