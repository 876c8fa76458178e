import threading

import pytest
from django.db import connection

from apps.guesses.models import Guess
from apps.matches.models import Participation
from tests.common.api import member_client
from tests.factories import MatchFactory, MemberFactory

THREADS = 6


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_guesses_of_one_member_create_one_row_and_never_fail():
    match, member = MatchFactory(), MemberFactory()
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def submit(goals: int) -> None:
        try:
            client = member_client(member)
            barrier.wait(timeout=10)
            response = client.put(
                f"/api/v1/matches/{match.id}/guess", {"home_goals": goals, "away_goals": 0}, format="json"
            )
            statuses.append(response.status_code)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(goals,)) for goals in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert sorted(statuses) == [200] * (THREADS - 1) + [201]
    assert Guess.objects.filter(match=match, member=member).count() == 1
    assert Participation.objects.filter(member=member, tournament=match.tournament).count() == 1
