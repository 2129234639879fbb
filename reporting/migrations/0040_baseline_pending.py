# The plausibility baseline's upkeep leaves the filing (issue 22): a filing writes a marker, the relay task folds
# the markers into the rows (reporting/filing/baselines.py); and the rows keep each field's spread apart from its
# summary, which a filing's check parses whole. The rows are made again from the versions, as 0037 made them.
import django.db.models.deletion
from django.db import migrations, models

from reporting.filing.baselines import rebuild_baselines


def fill(apps, schema_editor):
    rebuild_baselines()



class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_audit_chain'),
        ('reporting', '0039_submission_writes'),
    ]

    operations = [
        migrations.AddField(
            model_name="plausibilitybaseline",
            name="spreads",
            field=models.TextField(default="{}"),
        ),
        # uncompressed, as `kept` and `summaries` (0037): read on every check
        migrations.RunSQL(
            "ALTER TABLE reporting_plausibilitybaseline ALTER COLUMN spreads SET STORAGE EXTERNAL",
            migrations.RunSQL.noop,
        ),
        migrations.CreateModel(
            name='BaselinePending',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('period', models.CharField(max_length=16)),
                ('version_id', models.BigIntegerField()),
                ('sheet', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='reporting.sheet')),
                ('unit', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='core.unit')),
            ],
            options={
                'indexes': [models.Index(fields=['unit', 'sheet'], name='baseline_pending_unit_sheet')],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
