"""The audit trail's table, append-only at the database: UPDATE and DELETE are refused by triggers.

A row trigger does not fire on TRUNCATE, which is how the test suite (and
`manage.py flush` on PostgreSQL) empties tables; only the table's owner may
TRUNCATE at all. SQLite's flush deletes row by row, so on the embedded
database `flush` refuses: remove the database file instead.
"""

import django.utils.timezone
from django.db import migrations, models

_POSTGRES_FORWARD = """
CREATE FUNCTION common_auditentry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on common_auditentry refused', TG_OP;
END
$$;
CREATE TRIGGER common_auditentry_append_only
    BEFORE UPDATE OR DELETE ON common_auditentry
    FOR EACH ROW EXECUTE FUNCTION common_auditentry_refuse_change();
"""
_POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS common_auditentry_append_only ON common_auditentry;
DROP FUNCTION IF EXISTS common_auditentry_refuse_change();
"""
_SQLITE_FORWARD = [
    "CREATE TRIGGER common_auditentry_no_update BEFORE UPDATE ON common_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on common_auditentry refused'); END",
    "CREATE TRIGGER common_auditentry_no_delete BEFORE DELETE ON common_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on common_auditentry refused'); END",
]
_SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS common_auditentry_no_update",
    "DROP TRIGGER IF EXISTS common_auditentry_no_delete",
]


def _run(schema_editor, postgres, sqlite) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # No parameters: the function body's % is PL/pgSQL's, not a placeholder.
        schema_editor.execute(postgres, None)
    elif vendor == "sqlite":
        for statement in sqlite:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"No append-only triggers for the audit trail on {vendor}.")


def append_only(apps, schema_editor) -> None:
    _run(schema_editor, _POSTGRES_FORWARD, _SQLITE_FORWARD)


def append_only_undo(apps, schema_editor) -> None:
    _run(schema_editor, _POSTGRES_REVERSE, _SQLITE_REVERSE)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
                ('actor', models.CharField(max_length=200)),
                ('action', models.CharField(max_length=64)),
                ('target_type', models.CharField(max_length=64)),
                ('target_id', models.CharField(max_length=64)),
                ('before', models.JSONField(blank=True, null=True)),
                ('after', models.JSONField(blank=True, null=True)),
                ('request_id', models.CharField(blank=True, default='', max_length=64)),
            ],
            options={
                'verbose_name_plural': 'audit entries',
                'ordering': ('-id',),
                'indexes': [models.Index(fields=['target_type', 'target_id', '-id'], name='audit_target_idx'), models.Index(fields=['action', '-id'], name='audit_action_idx'), models.Index(fields=['at'], name='audit_at_idx'), models.Index(fields=['request_id'], name='audit_request_idx')],
            },
        ),
        migrations.RunPython(append_only, append_only_undo),
    ]
