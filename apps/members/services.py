"""Registration, profile changes, sign-out and pins."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from apps.common.errors import ApplicationError, Conflict
from apps.common.names import name_key
from apps.members.models import Member, Pin
from apps.members.selectors import member_get

USERNAME_TAKEN = "A member with that username already exists."
# How many members one member may pin (API.md "Pins").
PIN_LIMIT = 50
# The fields a change of name must save together: the names and their folded search keys.
NAME_FIELDS = ("display_name", "display_name_key", "username_key")


def member_names_fold(*, member: Member) -> Member:
    """Set the member's folded search keys from their public name and username (not saved).

    Every write of a display name or a username goes through here, so the
    board search (which matches the keys) finds members by their names now.
    """
    member.display_name_key = name_key(member.public_name)
    member.username_key = name_key(member.username)
    return member


def member_register(*, username: str, password: str, display_name: str = "", email: str = "") -> Member:
    """Create a member; a taken username or a weak password raises a field-keyed ValidationError."""
    username = Member.normalize_username(username)
    member = Member(username=username, display_name=display_name.strip() or username, email=email)
    member_names_fold(member=member)
    errors: dict[str, list] = {}
    if Member.objects.filter(username=username).exists():
        errors["username"] = [USERNAME_TAKEN]
    try:
        # The similarity check compares the password with username, email and names, so it needs the member.
        validate_password(password, user=member)
    except ValidationError as exc:
        errors["password"] = exc.error_list
    if errors:
        raise ValidationError(errors)
    member.set_password(password)
    try:
        # Two registrations of one name can both pass the check above; the unique index decides.
        with transaction.atomic():
            member.save()
    except IntegrityError:
        raise ValidationError({"username": [USERNAME_TAKEN]}) from None
    return member


def member_update(*, member: Member, display_name: str | None = None) -> Member:
    fields: list[str] = []
    if display_name is not None:
        member.display_name = display_name.strip()
        member_names_fold(member=member)
        fields.extend(NAME_FIELDS)
    if fields:
        member.save(update_fields=fields)
    return member


def member_logout(*, refresh: str) -> None:
    """Blacklist `refresh`: it can no longer be exchanged for tokens."""
    try:
        RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise ValidationError({"refresh": [str(exc)]}) from None


def pin_add(*, member_id: int, pinned_id: int) -> bool:
    """Pin `pinned_id` for `member_id`; True when it was not pinned yet.

    Pinning twice is not an error. Past PIN_LIMIT: Conflict `pin_limit`.
    """
    if member_id == pinned_id:
        raise ApplicationError("pin_self", "You cannot pin yourself.")
    member_get(member_id=pinned_id)  # NotFound member_not_found
    with transaction.atomic():
        # Two pins of one member at once would both count 49 and both insert:
        # locking the pinning member's row makes them count one after the other.
        # Only this member's own pins wait on it (and their own profile saves).
        Member.objects.select_for_update().filter(pk=member_id).values_list("pk", flat=True).first()
        pins = Pin.objects.filter(member_id=member_id)
        if pins.filter(pinned_id=pinned_id).exists():
            return False
        if pins.count() >= PIN_LIMIT:
            raise Conflict("pin_limit", f"You can pin at most {PIN_LIMIT} members; unpin one first.")
        Pin.objects.create(member_id=member_id, pinned_id=pinned_id)
    return True


def pin_remove(*, member_id: int, pinned_id: int) -> bool:
    """Unpin; True when it was pinned. Unpinning what is not pinned is not an error."""
    deleted, _ = Pin.objects.filter(member_id=member_id, pinned_id=pinned_id).delete()
    return bool(deleted)
