from datetime import timedelta

from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone


def mark_closed_windows_revealed(apps, schema_editor):
    """Matches whose window is closed now may already have shown their guesses: treat them as revealed.

    Reveals were not recorded before this field, so any match with guesses
    whose window is closed counts as revealed; otherwise a later kickoff could
    still reopen a window members have seen behind. A match with no guesses
    showed nothing, and one whose window is open showed nothing either.
    """
    Match = apps.get_model("matches", "Match")
    Tournament = apps.get_model("matches", "Tournament")
    Guess = apps.get_model("guesses", "Guess")
    now = timezone.now()
    has_guesses = Exists(Guess.objects.filter(match_id=OuterRef("pk")))
    for tournament_id, lock_minutes in Tournament.objects.values_list("pk", "lock_minutes"):
        closed = ~Q(status="scheduled") | Q(kickoff_at__lte=now + timedelta(minutes=lock_minutes))
        Match.objects.filter(closed, has_guesses, tournament_id=tournament_id).update(guesses_revealed_at=now)


class Migration(migrations.Migration):

    dependencies = [
        ("matches", "0003_match_result_by_hand"),
        ("guesses", "0003_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="match",
            name="guesses_revealed_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When members first saw each other's guesses; the guess window never reopens after it.",
                null=True,
            ),
        ),
        migrations.RunPython(mark_closed_windows_revealed, migrations.RunPython.noop),
    ]
