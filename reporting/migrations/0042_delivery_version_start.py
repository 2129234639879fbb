"""Each delivery carries its version's partition key (`version_start`), so its body is read from one year's versions.

The column is added empty, filled from each delivery's version, then made NOT NULL: the relay sets it from now on.
One pass over the outbox, once; the versions are found by id (their primary key covers every year)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0041_text_limits"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        "ALTER TABLE reporting_delivery ADD COLUMN version_start date",
                        "UPDATE reporting_delivery d SET version_start = v.period_start"
                        " FROM reporting_submissionversion v WHERE v.id = d.version_id",
                        "ALTER TABLE reporting_delivery ALTER COLUMN version_start SET NOT NULL",
                    ],
                    reverse_sql=["ALTER TABLE reporting_delivery DROP COLUMN version_start"],
                )
            ],
            state_operations=[
                migrations.AddField(
                    model_name="delivery",
                    name="version_start",
                    field=models.DateField(editable=False),
                    preserve_default=False,
                ),
            ],
        ),
    ]
