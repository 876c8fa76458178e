"""Folded names for the board search, filled for existing members in batches, then indexed concurrently.

Not atomic: each batch commits on its own, so a million members are never
locked by one long transaction (sign-ins write `last_login`), and the
indexes are built with CREATE INDEX CONCURRENTLY after the fill (one pass
over the filled table instead of an index update per row; writes go on).
The columns are added with a database default, which PostgreSQL records
without rewriting the table.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models, transaction

from apps.common.names import name_key

BATCH = 10_000


class AddIndexOnline(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL; a plain CREATE INDEX on the embedded SQLite default."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def fill(apps, schema_editor):
    connection = schema_editor.connection
    Member = apps.get_model("members", "Member")
    table = Member._meta.db_table
    after = 0
    while True:
        batch = list(
            Member.objects.filter(pk__gt=after).order_by("pk").values_list("pk", "username", "display_name")[:BATCH]
        )
        if not batch:
            return
        after = batch[-1][0]
        rows = [(pk, name_key(display_name or username), name_key(username)) for pk, username, display_name in batch]
        values = ", ".join(["(%s, %s, %s)"] * len(rows))
        with transaction.atomic(), connection.cursor() as cursor:
            # One statement per batch: set-based, keyed by the primary key.
            cursor.execute(
                f"UPDATE {table} AS m SET display_name_key = v.d, username_key = v.u "
                f"FROM (VALUES {values}) AS v(id, d, u) WHERE m.id = v.id",
                [value for row in rows for value in row],
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("members", "0002_pins"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="display_name_key",
            field=models.TextField(db_default="", default="", editable=False),
        ),
        migrations.AddField(
            model_name="member",
            name="username_key",
            field=models.TextField(db_default="", default="", editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        AddIndexOnline(
            model_name="member",
            index=models.Index(
                fields=["display_name_key"], name="member_display_name_key_like", opclasses=["text_pattern_ops"]
            ),
        ),
        AddIndexOnline(
            model_name="member",
            index=models.Index(fields=["username_key"], name="member_username_key_like", opclasses=["text_pattern_ops"]),
        ),
    ]
