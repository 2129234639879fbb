# Two foreign keys had an index of their own beside one that leads with the same column and serves every look-up
# by it: a submission's unit (unit_id, beside (unit_id, sheet_id, period DESC)) and a version's submission
# (submission_id, beside the unique (submission_id, number, period_start)). They only cost every write (a register
# supply writes 20,000 submissions and versions at once, issue 19): dropped. Only the indexes: the foreign keys are
# not touched (Django's own AlterField would drop and re-add each constraint, checking every row again).
#
# A correction sets a submission's `updated_at`, which `supply_by_source` indexed (nothing reads it in that order):
# with an indexed column changed, PostgreSQL cannot update the row in place (HOT) and every index takes the row
# again. The index now holds the source only, and the table keeps room on its pages for the updated rows.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0003_audit_chain"),
        ("reporting", "0038_calendar_generation"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="submission", name="supply_by_source"),
        migrations.AddIndex(
            model_name="submission",
            index=models.Index(
                condition=models.Q(("source__isnull", False)), fields=["source"], name="supply_by_source"
            ),
        ),
        # half of each page kept free: a correction of every supply of a page (a register's correction) writes each
        # row's new version on its own page, a HOT update (existing pages keep their fill until rewritten)
        migrations.RunSQL(
            "ALTER TABLE reporting_submission SET (fillfactor = 50)", "ALTER TABLE reporting_submission RESET (fillfactor)"
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS reporting_submission_unit_id_06ebe371",
                    "CREATE INDEX reporting_submission_unit_id_06ebe371 ON reporting_submission (unit_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS reporting_submissionversion_submission_id_471deba0",
                    "CREATE INDEX reporting_submissionversion_submission_id_471deba0 "
                    "ON reporting_submissionversion (submission_id)",
                ),
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
                ),
                migrations.AlterField(
                    model_name="submissionversion",
                    name="submission",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="versions",
                        to="reporting.submission",
                    ),
                ),
            ],
        ),
    ]
