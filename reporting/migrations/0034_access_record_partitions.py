# Access records partitioned by month of `at` (reporting/partitions.py), so retention detaches a month instead of
# deleting rows one by one. The rows, their ids and the id sequence are kept; the indexes and append-only triggers
# are made again on the partitioned table (its row triggers are cloned to every partition, the TRUNCATE guard is
# made on each partition by reporting/partitions.py).
#
# PostgreSQL requires the partition key in every unique index, so `one_aggregate_access` (one aggregated record per
# department, unit, period and fields) cannot stay a unique index: `reads.rollups.record_used` keeps it under a
# transaction-scoped advisory lock instead.

import datetime as dt

from django.db import migrations

from reporting.partitions import ACCESS_RECORDS, swap_in_partitioned, swap_in_plain

TABLE = "reporting_accessrecord"
INDEXES = [
    f"CREATE INDEX reporting_a_unit_id_3f6048_idx ON {TABLE} (unit_id, at DESC)",
    f"CREATE INDEX reporting_a_departm_73f8ad_idx ON {TABLE} (department_id, at DESC)",
    f"CREATE INDEX access_by_subscription ON {TABLE} (subscription_id, kind, at DESC)",
    f"CREATE INDEX reporting_accessrecord_delivery_id_089ed7d8 ON {TABLE} (delivery_id)",
]
TRIGGERS = [
    f"CREATE TRIGGER append_only_update BEFORE UPDATE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION onetable_append_only('')",
    f"CREATE TRIGGER append_only_delete BEFORE DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION onetable_append_only('delete')",
    f"CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION onetable_append_only('truncate')",
]
UNIQUE = (
    f"CREATE UNIQUE INDEX one_aggregate_access ON {TABLE} (department_id, unit_id, period, fields) "
    "WHERE kind = 'aggregated'"
)


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")  # no writer commits rows while they move
        swap_in_partitioned(cursor, ACCESS_RECORDS, dt.datetime.now(dt.UTC).date())
        for statement in INDEXES + TRIGGERS:
            cursor.execute(statement)


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        swap_in_plain(cursor, ACCESS_RECORDS)
        for statement in [*INDEXES, UNIQUE, *TRIGGERS]:
            cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("reporting", "0033_relay"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveConstraint(model_name="accessrecord", name="one_aggregate_access")],
            database_operations=[migrations.RunPython(partition, unpartition)],
        ),
    ]
