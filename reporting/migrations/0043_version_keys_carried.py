"""Questions and disputes carry their answer version's partition key (`answer_start`), and a ledger record moved to
another day the days its older versions are filed under (`earlier_starts`): each is then read in its years only.

`answer_version` becomes a relation on the whole key (id, period_start), its id the column it always was; the
columns are added empty and filled from the versions (found by id, their primary key covers every year), once."""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

def _answer_start(model: str, table: str) -> list:
    """The model's answer version by its whole key: its id stays the column it was, its key is added and filled."""
    return [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        f"ALTER TABLE {table} ADD COLUMN answer_start date",
                        f"UPDATE {table} q SET answer_start = v.period_start"
                        " FROM reporting_submissionversion v WHERE v.id = q.answer_version_id",
                    ],
                    reverse_sql=[f"ALTER TABLE {table} DROP COLUMN answer_start"],
                )
            ],
            state_operations=[
                migrations.AddField(
                    model_name=model,
                    name="answer_start",
                    field=models.DateField(blank=True, editable=False, null=True),
                ),
                # the column (and its index) of the foreign key it was, now a plain id
                migrations.RemoveField(model_name=model, name="answer_version"),
                migrations.AddField(
                    model_name=model,
                    name="answer_version_id",
                    field=models.BigIntegerField(blank=True, db_index=True, null=True),
                ),
                migrations.AddField(
                    model_name=model,
                    name="answer_version",
                    field=models.ForeignObject(
                        blank=True,
                        from_fields=("answer_version_id", "answer_start"),
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="reporting.submissionversion",
                        to_fields=("id", "period_start"),
                    ),
                ),
            ],
        )
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0042_delivery_version_start"),
    ]

    operations = [
        *_answer_start("question", "reporting_question"),
        *_answer_start("dispute", "reporting_dispute"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        "ALTER TABLE reporting_submission ADD COLUMN earlier_starts date[]",
                        # a ledger record's versions filed under another day than its current one (a correction
                        # moved it); every other submission's versions all carry its period_start
                        "UPDATE reporting_submission s SET earlier_starts = moved.starts FROM ("
                        " SELECT v.submission_id, array_agg(DISTINCT v.period_start ORDER BY v.period_start) AS starts"
                        " FROM reporting_submissionversion v JOIN reporting_submission r ON r.id = v.submission_id"
                        " WHERE r.record_key IS NOT NULL AND v.period_start <> r.period_start"
                        " GROUP BY v.submission_id) moved WHERE s.id = moved.submission_id",
                    ],
                    reverse_sql=["ALTER TABLE reporting_submission DROP COLUMN earlier_starts"],
                )
            ],
            state_operations=[
                migrations.AddField(
                    model_name="submission",
                    name="earlier_starts",
                    field=django.contrib.postgres.fields.ArrayField(
                        base_field=models.DateField(), blank=True, editable=False, null=True, size=None
                    ),
                ),
            ],
        ),
    ]
