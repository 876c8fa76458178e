"""Leagues now belong to `apps.leagues` (its 0001 takes over the same tables): forget them here, state only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0006_round_standing_key"),
        ("leagues", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="LeagueMembership"),
                migrations.DeleteModel(name="League"),
            ],
            database_operations=[],
        ),
    ]
