"""Pins (API.md "Pins"): a member follows up to 50 others on every board; only the caller's pins are theirs."""

import threading

import pytest
from django.db import IntegrityError, connection

from apps.members.models import Member, Pin
from apps.members.services import PIN_LIMIT
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import MemberFactory

PINS = "/api/v1/me/pins"


def pin_url(member_id: int) -> str:
    return f"{PINS}/{member_id}"


@pytest.mark.django_db
def test_pinning_lists_the_pinned_member_and_pinning_twice_is_not_an_error():
    me, friend = MemberFactory(), MemberFactory(display_name="Ada")
    client = member_client(me)
    for _ in range(2):
        response = client.put(pin_url(friend.id))
        assert response.status_code == 204 and not response.content
    assert client.get(PINS).json() == [{"id": friend.id, "display_name": "Ada"}]
    assert Pin.objects.filter(member=me).count() == 1


@pytest.mark.django_db
def test_only_the_callers_pins_are_listed_and_removed():
    me, other, friend, stranger = MemberFactory.create_batch(4)
    member_client(me).put(pin_url(friend.id))
    member_client(other).put(pin_url(stranger.id))
    member_client(other).put(pin_url(friend.id))

    assert [pin["id"] for pin in member_client(me).get(PINS).json()] == [friend.id]
    # Unpinning acts on the caller's own pins only: the other member keeps theirs.
    assert member_client(me).delete(pin_url(friend.id)).status_code == 204
    assert member_client(me).get(PINS).json() == []
    assert [pin["id"] for pin in member_client(other).get(PINS).json()] == [stranger.id, friend.id]
    # Unpinning what is not pinned is not an error either.
    assert member_client(me).delete(pin_url(stranger.id)).status_code == 204


@pytest.mark.django_db
def test_pinning_an_unknown_member_answers_404_and_yourself_400():
    me = MemberFactory()
    assert_error(member_client(me).put(pin_url(me.id + 1000)), 404, "member_not_found")
    assert_error(member_client(me).put(pin_url(me.id)), 400, "pin_self")
    # A deactivated member is not found either: nobody follows an account that is gone.
    gone = MemberFactory(is_active=False)
    assert_error(member_client(me).put(pin_url(gone.id)), 404, "member_not_found")
    assert not Pin.objects.exists()


@pytest.mark.django_db
def test_the_database_refuses_a_pin_of_oneself():
    me = MemberFactory()
    with pytest.raises(IntegrityError):
        Pin.objects.create(member=me, pinned=me)


@pytest.mark.django_db
def test_pins_need_a_token():
    friend = MemberFactory()
    assert_error(anonymous_client().get(PINS), 401)
    assert_error(anonymous_client().put(pin_url(friend.id)), 401)
    assert_error(anonymous_client().delete(pin_url(friend.id)), 401)


@pytest.mark.django_db
def test_the_fifty_first_pin_answers_409_pin_limit_but_pinning_a_pinned_one_again_is_fine():
    me = MemberFactory()
    others = MemberFactory.create_batch(PIN_LIMIT + 1)
    client = member_client(me)
    for other in others[:PIN_LIMIT]:
        assert client.put(pin_url(other.id)).status_code == 204
    assert_error(client.put(pin_url(others[PIN_LIMIT].id)), 409, "pin_limit")
    assert client.put(pin_url(others[0].id)).status_code == 204
    assert len(client.get(PINS).json()) == PIN_LIMIT
    # Unpinning one makes room again.
    assert client.delete(pin_url(others[0].id)).status_code == 204
    assert client.put(pin_url(others[PIN_LIMIT].id)).status_code == 204


THREADS = 6


@pytest.mark.django_db(transaction=True)
def test_concurrent_pins_near_the_limit_never_pass_it():
    me = MemberFactory()
    held = PIN_LIMIT - THREADS // 2
    Pin.objects.bulk_create(Pin(member=me, pinned=other) for other in MemberFactory.create_batch(held))
    newcomers = MemberFactory.create_batch(THREADS)
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def pin(member_id: int) -> None:
        try:
            client = member_client(me)
            barrier.wait(timeout=10)
            statuses.append(client.put(pin_url(member_id)).status_code)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pin, args=(other.id,)) for other in newcomers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert sorted(statuses) == [204] * (PIN_LIMIT - held) + [409] * (THREADS - (PIN_LIMIT - held))
    assert Pin.objects.filter(member=me).count() == PIN_LIMIT


@pytest.mark.django_db
def test_a_deleted_member_leaves_the_pins_of_others():
    me, friend = MemberFactory.create_batch(2)
    member_client(me).put(pin_url(friend.id))
    Member.objects.filter(pk=friend.pk).delete()
    assert member_client(me).get(PINS).json() == []
