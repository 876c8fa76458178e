"""Registration, profile changes and sign-out."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from apps.members.models import Member

USERNAME_TAKEN = "A member with that username already exists."


def member_register(*, username: str, password: str, display_name: str = "", email: str = "") -> Member:
    """Create a member; a taken username or a weak password raises a field-keyed ValidationError."""
    username = Member.normalize_username(username)
    member = Member(username=username, display_name=display_name.strip() or username, email=email)
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
    fields = []
    if display_name is not None:
        member.display_name = display_name.strip()
        fields.append("display_name")
    if fields:
        member.save(update_fields=fields)
    return member


def member_logout(*, refresh: str) -> None:
    """Blacklist `refresh`: it can no longer be exchanged for tokens."""
    try:
        RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise ValidationError({"refresh": [str(exc)]}) from None
