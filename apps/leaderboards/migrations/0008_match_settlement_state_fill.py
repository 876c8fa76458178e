"""Fill the matches' settlement state from the settlement requests written before it existed.

`settlement_kind` is the kind of the match's latest request; `settled_version`
the highest result version a settle request finished. Set-based: two UPDATEs
whatever the number of matches.
"""

from django.db import migrations


def fill(apps, schema_editor):
    Match = apps.get_model("matches", "Match")
    SettlementRequest = apps.get_model("leaderboards", "SettlementRequest")
    match_table = Match._meta.db_table
    request_table = SettlementRequest._meta.db_table
    schema_editor.execute(
        f"UPDATE {match_table} SET settlement_kind = ("
        f"SELECT r.kind FROM {request_table} r WHERE r.match_id = {match_table}.id ORDER BY r.id DESC LIMIT 1) "
        f"WHERE EXISTS (SELECT 1 FROM {request_table} r WHERE r.match_id = {match_table}.id)"
    )
    schema_editor.execute(
        f"UPDATE {match_table} SET settled_version = ("
        f"SELECT MAX(r.result_version) FROM {request_table} r "
        f"WHERE r.match_id = {match_table}.id AND r.kind = 'settle' AND r.status = 'done') "
        f"WHERE EXISTS (SELECT 1 FROM {request_table} r "
        f"WHERE r.match_id = {match_table}.id AND r.kind = 'settle' AND r.status = 'done')"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0007_leagues_move_out"),
        ("matches", "0005_match_settlement_state"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
