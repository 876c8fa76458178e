"""The match's side of settlement: what was last asked of it, and which result version is settled.

Kept on the match so that matches and guesses answer "is it settled?" without
reading the leaderboards' tables; leaderboards 0008 fills both from the
settlement requests already written.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matches", "0004_match_guesses_revealed_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="match",
            name="settlement_kind",
            field=models.CharField(
                blank=True,
                choices=[("settle", "Settle"), ("reverse", "Reverse")],
                help_text="What the last result change asked of settlement (empty before any).",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="match",
            name="settled_version",
            field=models.PositiveIntegerField(
                blank=True, help_text="The result version whose points settlement has awarded.", null=True
            ),
        ),
    ]
