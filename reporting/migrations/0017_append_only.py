# Submission versions and access records are append-only in PostgreSQL itself: the guard function comes from
# core.0003_audit_chain (see core/appendonly.py for what the schema owner's maintenance may do).

from django.db import migrations

# table: whether maintenance may DELETE its rows. Both may be emptied by maintenance (TRUNCATE: `flush`,
# test runs); UPDATE is refused whatever the session.
TABLES = {
    "reporting_submissionversion": "",  # no retention ever applies to versions
    "reporting_accessrecord": "delete",  # retention of old access records
}

FORWARD = []
BACKWARD = []
for table, allowed in TABLES.items():
    FORWARD += [
        f"CREATE TRIGGER append_only_update BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION onetable_append_only('')",
        f"CREATE TRIGGER append_only_delete BEFORE DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION onetable_append_only('{allowed}')",
        f"CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION onetable_append_only('truncate')",
    ]
    BACKWARD += [f"DROP TRIGGER append_only_{op} ON {table}" for op in ("truncate", "delete", "update")]


class Migration(migrations.Migration):

    dependencies = [
        ('reporting', '0016_access_charted_range'),
        ('core', '0003_audit_chain'),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
