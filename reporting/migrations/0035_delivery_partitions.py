# Deliveries partitioned by the month their version was stored in (`version_month`, reporting/partitions.py): the
# relay and the senders work in the newest months, older months' indexes go cold. The rows, ids, positions and the
# id sequence are kept; indexes and foreign keys are made again on the partitioned table.
#
# PostgreSQL wants the partition key in the primary key and in every unique constraint: `delivery_once` becomes
# (version, subscription, version_month), the same rule since the month is the version's; `delivery_feed_position`
# becomes a plain index (positions are unique by their assignment under the department's FeedCounter lock); and
# `supersedes`, a foreign key to this table, keeps no database constraint (`id` alone is no unique constraint).

import datetime as dt

import django.db.models.deletion
from django.db import migrations, models

from reporting.partitions import DELIVERIES, foreign_keys, swap_in_partitioned, swap_in_plain

TABLE = "reporting_delivery"
INDEXES = [
    f"CREATE INDEX delivery_feed_position ON {TABLE} (department_id, position)",
    f"CREATE INDEX delivery_old_cursor ON {TABLE} (department_id, txid, id) WHERE txid IS NOT NULL",
    f"CREATE INDEX delivery_sendable ON {TABLE} (endpoint_id, next_attempt_at, id) "
    "WHERE status IN ('pending', 'retrying')",
    f"CREATE INDEX delivery_by_submission ON {TABLE} (submission_id, subscription_id)",
    f"CREATE INDEX delivery_supersedes ON {TABLE} (supersedes_id) WHERE supersedes_id IS NOT NULL",
    f"CREATE INDEX delivery_dead ON {TABLE} (department_id, id DESC) WHERE status = 'dead'",
    f"CREATE INDEX reporting_delivery_endpoint_id_9fe6b395 ON {TABLE} (endpoint_id)",
    f"CREATE INDEX reporting_delivery_subscription_id_8dd85146 ON {TABLE} (subscription_id)",
]
PARTITIONED = [
    f"ALTER TABLE {TABLE} ADD CONSTRAINT delivery_once UNIQUE (version_id, subscription_id, version_month)",
]
PLAIN = [
    f"ALTER TABLE {TABLE} ADD CONSTRAINT delivery_once UNIQUE (version_id, subscription_id)",
    f"ALTER TABLE {TABLE} ADD CONSTRAINT delivery_feed_position UNIQUE (department_id, position)",
    f"ALTER TABLE {TABLE} ADD CONSTRAINT reporting_delivery_supersedes_id_2bed11e9_fk_reporting FOREIGN KEY "
    f"(supersedes_id) REFERENCES {TABLE} (id) DEFERRABLE INITIALLY DEFERRED",
]


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")  # no relay commits rows while they move
        keys = foreign_keys(cursor, TABLE)
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN version_month date")
        cursor.execute(
            f"UPDATE {TABLE} d SET version_month = date_trunc('month', v.at AT TIME ZONE 'UTC')::date"
            " FROM reporting_submissionversion v WHERE v.id = d.version_id"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ALTER version_month SET NOT NULL")
        swap_in_partitioned(cursor, DELIVERIES, dt.datetime.now(dt.UTC).date())
        for statement in [*keys, *INDEXES, *PARTITIONED]:
            cursor.execute(statement)


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        keys = foreign_keys(cursor, TABLE)
        swap_in_plain(cursor, DELIVERIES)
        cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN version_month")
        for statement in [*keys, *[i for i in INDEXES if "delivery_feed_position" not in i], *PLAIN]:
            cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("reporting", "0034_access_record_partitions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="delivery",
                    name="version_month",
                    field=models.DateField(editable=False, default=dt.date(2000, 1, 1)),
                    preserve_default=False,
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="supersedes",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="reporting.delivery",
                    ),
                ),
                migrations.RemoveConstraint(model_name="delivery", name="delivery_once"),
                migrations.RemoveConstraint(model_name="delivery", name="delivery_feed_position"),
                migrations.AddConstraint(
                    model_name="delivery",
                    constraint=models.UniqueConstraint(
                        fields=("version", "subscription", "version_month"), name="delivery_once"
                    ),
                ),
                migrations.AddIndex(
                    model_name="delivery",
                    index=models.Index(fields=["department", "position"], name="delivery_feed_position"),
                ),
            ],
            database_operations=[migrations.RunPython(partition, unpartition)],
        ),
    ]
