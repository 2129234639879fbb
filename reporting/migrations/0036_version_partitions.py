# Submission versions partitioned by year of `period_start` (reporting/partitions.py `VERSIONS`): the table that
# grows with every filing, read almost always for one period. The rows, ids and the id sequence are kept; indexes,
# foreign keys, the unique constraint and the append-only triggers are made again on the partitioned table.
#
# PostgreSQL wants the partition key in the primary key and in every unique constraint: the key is
# (id, period_start), `one_version_number` becomes (submission, number, period_start), and the foreign keys that
# point at a version (deliveries, relay markers, disputes, questions) keep no database constraint: `id` alone is no
# unique constraint they could reference. Versions are append-only (no UPDATE or DELETE passes the guard, whatever
# the session), so a version once referenced cannot go away, which is what those constraints guarded.

import datetime as dt

import django.db.models.deletion
from django.db import migrations, models

from reporting.partitions import VERSIONS, foreign_keys, swap_in_partitioned, swap_in_plain

TABLE = "reporting_submissionversion"
PENDING = "reporting_relaypending"
INDEXES = [
    f"CREATE INDEX reporting_submissionversion_by_id_6f3b6ee8 ON {TABLE} (by_id)",
    f"CREATE INDEX reporting_submissionversion_submission_id_471deba0 ON {TABLE} (submission_id)",
]
TRIGGERS = [
    f"CREATE TRIGGER append_only_update BEFORE UPDATE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION onetable_append_only('')",
    f"CREATE TRIGGER append_only_delete BEFORE DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION onetable_append_only('')",
    f"CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION onetable_append_only('truncate')",
]
PARTITIONED = f"ALTER TABLE {TABLE} ADD CONSTRAINT one_version_number UNIQUE (submission_id, number, period_start)"
PLAIN = f"ALTER TABLE {TABLE} ADD CONSTRAINT one_version_number UNIQUE (submission_id, number)"


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")  # no filing commits a version while they move
        # versions written earlier in this transaction (a test) have deferred key checks pending, which ALTER refuses
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        keys = foreign_keys(cursor, TABLE)
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN period_start date")
        # filling the new column is the one UPDATE versions ever get: the guard is dropped here in plain sight, on
        # the table being replaced (the partitioned one gets it back below)
        cursor.execute(f"DROP TRIGGER append_only_update ON {TABLE}")
        # a ledger record whose date a correction moved: its older versions take the record's current date (what
        # they were filed with was not kept); the current version's is right, and reads rely only on that one
        cursor.execute(
            f"UPDATE {TABLE} v SET period_start = s.period_start FROM reporting_submission s WHERE s.id = v.submission_id"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ALTER period_start SET NOT NULL")
        # a version awaiting the relay carries its key, so the relay looks in one partition for it
        cursor.execute(f"ALTER TABLE {PENDING} ADD COLUMN period_start date")
        cursor.execute(f"UPDATE {PENDING} p SET period_start = v.period_start FROM {TABLE} v WHERE v.id = p.version_id")
        cursor.execute(f"ALTER TABLE {PENDING} ALTER period_start SET NOT NULL")
        swap_in_partitioned(cursor, VERSIONS, dt.datetime.now(dt.UTC).date())
        for statement in [*keys, *INDEXES, PARTITIONED, *TRIGGERS]:
            cursor.execute(statement)


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        keys = foreign_keys(cursor, TABLE)
        swap_in_plain(cursor, VERSIONS)
        cursor.execute(f"ALTER TABLE {PENDING} DROP COLUMN period_start")
        cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN period_start")
        for statement in [*keys, *INDEXES, PLAIN, *TRIGGERS]:
            cursor.execute(statement)


def unconstrained(**options):
    return models.ForeignKey(
        db_constraint=False, on_delete=django.db.models.deletion.PROTECT, to="reporting.submissionversion", **options
    )


class Migration(migrations.Migration):

    dependencies = [
        ("reporting", "0035_delivery_partitions"),
    ]

    operations = [
        # first, so that the old table has nothing pointing at it when it is dropped (and, going back, the
        # constraints are made again once the plain table has its unique `id`)
        migrations.AlterField(
            model_name="delivery",
            name="version",
            field=unconstrained(db_index=False, related_name="deliveries"),
        ),
        migrations.AlterField(
            model_name="dispute",
            name="answer_version",
            field=unconstrained(blank=True, null=True, related_name="+"),
        ),
        migrations.AlterField(model_name="dispute", name="supply_version", field=unconstrained(related_name="+")),
        migrations.AlterField(model_name="dispute", name="version", field=unconstrained(related_name="+")),
        migrations.AlterField(
            model_name="question",
            name="answer_version",
            field=unconstrained(blank=True, null=True, related_name="+"),
        ),
        migrations.AlterField(
            model_name="relaypending",
            name="version",
            field=models.OneToOneField(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                primary_key=True,
                related_name="+",
                serialize=False,
                to="reporting.submissionversion",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="submissionversion", name="one_version_number"),
                migrations.AddField(
                    model_name="submissionversion",
                    name="period_start",
                    field=models.DateField(editable=False, default=dt.date(2000, 1, 1)),
                    preserve_default=False,
                ),
                migrations.AddField(
                    model_name="relaypending",
                    name="period_start",
                    field=models.DateField(default=dt.date(2000, 1, 1)),
                    preserve_default=False,
                ),
                migrations.AddConstraint(
                    model_name="submissionversion",
                    constraint=models.UniqueConstraint(
                        fields=("submission", "number", "period_start"), name="one_version_number"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(partition, unpartition)],
        ),
    ]
