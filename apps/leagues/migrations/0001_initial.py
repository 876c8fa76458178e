"""Leagues move from the leaderboards app into their own, keeping their tables and rows.

State only: the tables `leaderboards_league` and `leaderboards_leaguemembership`
stay as they are (the models name them in `db_table`), so no row is copied and
nothing is locked. The content types move with the models, so staff
permissions on leagues and admin history keep pointing at them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("league", "leaguemembership")


def content_types_forward(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label="leagues", model=model).exists():
            ContentType.objects.filter(app_label="leaderboards", model=model).update(app_label="leagues")


def content_types_backward(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label="leaderboards", model=model).exists():
            ContentType.objects.filter(app_label="leagues", model=model).update(app_label="leaderboards")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("leaderboards", "0006_round_standing_key"),
        ("matches", "0003_match_result_by_hand"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="League",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("name", models.CharField(max_length=64)),
                        ("invite_code", models.CharField(max_length=32, unique=True)),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="owned_leagues",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "tournament",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="leagues",
                                to="matches.tournament",
                            ),
                        ),
                    ],
                    options={"db_table": "leaderboards_league", "ordering": ["id"]},
                ),
                migrations.CreateModel(
                    name="LeagueMembership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("joined_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "league",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="memberships",
                                to="leagues.league",
                            ),
                        ),
                        (
                            "member",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="league_memberships",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "leaderboards_leaguemembership",
                        "indexes": [models.Index(fields=["member", "league"], name="league_membership_member")],
                        "constraints": [
                            models.UniqueConstraint(fields=("league", "member"), name="league_membership_unique")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_forward, content_types_backward),
    ]
