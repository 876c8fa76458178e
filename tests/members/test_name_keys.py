"""The folded names the board search matches are kept in step with the names, and filled for existing members."""

import pytest

from apps.members.models import Member
from tests.common.api import anonymous_client, member_client

pytestmark = pytest.mark.django_db


def test_registration_folds_the_display_name_and_the_username():
    response = anonymous_client().post(
        "/api/v1/auth/register",
        {"username": "JMuller", "password": "analytical-engine-1843", "display_name": "  Jürgen   MÜLLER "},
        format="json",
    )
    assert response.status_code == 201
    member = Member.objects.get(pk=response.json()["id"])
    assert (member.display_name_key, member.username_key) == ("jurgen muller", "jmuller")


def test_registration_without_a_display_name_is_found_by_the_username_in_both_keys():
    response = anonymous_client().post(
        "/api/v1/auth/register", {"username": "Zoë", "password": "analytical-engine-1843"}, format="json"
    )
    member = Member.objects.get(pk=response.json()["id"])
    assert (member.display_name_key, member.username_key) == ("zoe", "zoe")


def test_a_new_display_name_moves_its_key():
    response = anonymous_client().post(
        "/api/v1/auth/register", {"username": "ada", "password": "analytical-engine-1843"}, format="json"
    )
    member = Member.objects.get(pk=response.json()["id"])
    assert member_client(member).patch("/api/v1/me", {"display_name": "Ådå Lovelace"}, format="json").status_code == 200
    member.refresh_from_db()
    assert (member.display_name_key, member.username_key) == ("ada lovelace", "ada")


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_keys_of_existing_members_and_indexes_them_for_prefixes():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def migrate(targets):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    old = migrate([("members", "0002_pins")])
    try:
        OldMember = old.get_model("members", "Member")
        OldMember.objects.create(username="muller1", display_name="Thomas Müller", password="!")
        OldMember.objects.create(username="ÉDITH", display_name="", password="!")
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert dict(Member.objects.values_list("username", "display_name_key")) == {
        "muller1": "thomas muller",
        "ÉDITH": "edith",
    }
    assert Member.objects.get(username="ÉDITH").username_key == "edith"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'members_member' AND indexname LIKE 'member_%_key_like'"
        )
        definitions = sorted(row[0] for row in cursor.fetchall())
    assert len(definitions) == 2 and all("text_pattern_ops" in definition for definition in definitions)
