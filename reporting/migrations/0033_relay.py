"""The relay (issue 21): deliveries are made after the filing by a relay, and each department's feed is a sequence
of positions given in the order the relay's transactions commit.

Existing deliveries keep their ids and rows; each gets the position it had in the old feed order, (txid, id) per
department, so a cursor handed out before (txid-id) maps to the position of the last row at or before it and a
reader following `next` neither misses nor repeats a row. The old design wrote every delivery in the filing's
transaction, so no committed version is waiting for its deliveries: nothing needs a relay marker. Subscriptions
get the transactions that put them in force: existing ones are in force (or ended) in every snapshot the relay
will judge, hence the frozen transaction id 1 (older than any snapshot's xmin).
"""

import django.db.models.deletion
from django.db import migrations, models

POSITIONS = [
    """
    UPDATE reporting_delivery d SET position = o.position
    FROM (SELECT id, row_number() OVER (PARTITION BY department_id ORDER BY txid, id) AS position
          FROM reporting_delivery) o
    WHERE d.id = o.id
    """,
    """
    INSERT INTO reporting_feedcounter (department_id, last)
    SELECT department_id, max(position) FROM reporting_delivery GROUP BY department_id ORDER BY department_id
    """,
]

IN_FORCE = [
    # before the trigger exists: it would keep the (empty) values of an update that leaves the status alone
    """
    UPDATE reporting_subscription
    SET active_from_xid = 1, active_until_xid = CASE WHEN status = 'active' THEN NULL ELSE 1 END
    """,
    """
    CREATE FUNCTION reporting_subscription_in_force() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        now_xid bigint := pg_current_xact_id()::text::bigint;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            NEW.active_from_xid := now_xid;
            NEW.active_until_xid := CASE WHEN NEW.status = 'active' THEN NULL ELSE now_xid END;
            RETURN NEW;
        END IF;
        -- only a change of status moves them: a save of stale values in Python changes nothing
        NEW.active_from_xid := OLD.active_from_xid;
        NEW.active_until_xid := OLD.active_until_xid;
        IF NEW.status = 'active' AND OLD.status <> 'active' THEN
            NEW.active_from_xid := now_xid;
            NEW.active_until_xid := NULL;
        ELSIF NEW.status <> 'active' AND OLD.status = 'active' THEN
            NEW.active_until_xid := now_xid;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER in_force BEFORE INSERT OR UPDATE ON reporting_subscription "
    "FOR EACH ROW EXECUTE FUNCTION reporting_subscription_in_force()",
]
IN_FORCE_BACKWARD = [
    "DROP TRIGGER in_force ON reporting_subscription",
    "DROP FUNCTION reporting_subscription_in_force()",
]


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_audit_chain'),
        ("reporting", "0032_unlock_withdrawn"),
    ]

    operations = [
        migrations.CreateModel(
            name='FeedCounter',
            fields=[
                ('department', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='+', serialize=False, to='core.department')),
                ('last', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'feed counter',
                'verbose_name_plural': 'feed counters',
            },
        ),
        migrations.CreateModel(
            name='RelayPending',
            fields=[
                ('version', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='+', serialize=False, to='reporting.submissionversion')),
                ('snapshot', models.TextField()),
                ('xid', models.BigIntegerField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'verbose_name': 'version awaiting the relay',
                'verbose_name_plural': 'versions awaiting the relay',
            },
        ),
        migrations.AddField(
            model_name='delivery',
            name='position',
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.RunSQL(POSITIONS, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name='delivery',
            name='position',
            field=models.BigIntegerField(editable=False),
        ),
        migrations.RemoveIndex(
            model_name='delivery',
            name='delivery_feed_order',
        ),
        migrations.AddField(
            model_name='subscription',
            name='active_from_xid',
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='subscription',
            name='active_until_xid',
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(IN_FORCE, IN_FORCE_BACKWARD),
        migrations.AlterField(
            model_name='delivery',
            name='txid',
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='version',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='deliveries', to='reporting.submissionversion'),
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('txid__isnull', False)), fields=['department', 'txid', 'id'], name='delivery_old_cursor'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.UniqueConstraint(fields=('version', 'subscription'), name='delivery_once'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.UniqueConstraint(fields=('department', 'position'), name='delivery_feed_position'),
        ),
        migrations.AddField(
            model_name='relaypending',
            name='submission',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='reporting.submission'),
        ),
    ]
