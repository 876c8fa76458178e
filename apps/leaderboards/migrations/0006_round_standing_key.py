"""Key round standings by (round, member) itself and drop the surrogate id.

The table is recreated: its rows are derived from the guesses and the applied
settlement requests, and none exist yet outside development databases (where
settling the matches again rebuilds them).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def set_fillfactor(apps, schema_editor):
    # See 0004: settlement updates stay heap-only with room left on each page.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE leaderboards_roundstanding SET (fillfactor = 50)")


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0005_derived_standings"),
        ("matches", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.DeleteModel(name="RoundStanding"),
        migrations.CreateModel(
            name="RoundStanding",
            fields=[
                ("pk", models.CompositePrimaryKey("round", "member", blank=True, editable=False, primary_key=True, serialize=False)),
                ("points", models.IntegerField(default=0)),
                ("exact_hits", models.IntegerField(default=0)),
                ("outcome_hits", models.IntegerField(default=0)),
                (
                    "member",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "round",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="matches.round",
                    ),
                ),
                (
                    "tournament",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="matches.tournament",
                    ),
                ),
            ],
        ),
        migrations.RunPython(set_fillfactor, migrations.RunPython.noop),
    ]
