# A submission's unit had two indexes: the foreign key's own (unit_id) and (unit_id, sheet_id, period DESC), which
# leads with it and serves every look-up by unit. The first one only cost every write of a submission (a register
# supply writes 20,000 at once, issue 19): dropped. Only the index: the foreign key is not touched (Django's own
# AlterField would drop and re-add the constraint, checking every row again).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0003_audit_chain"),
        ("reporting", "0038_calendar_generation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS reporting_submission_unit_id_06ebe371",
                    "CREATE INDEX reporting_submission_unit_id_06ebe371 ON reporting_submission (unit_id)",
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="submission",
                    name="unit",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="submissions",
                        to="core.unit",
                    ),
                )
            ],
        ),
    ]
