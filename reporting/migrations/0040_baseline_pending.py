# The plausibility baseline's upkeep leaves the filing (issue 22): a filing writes a marker, the relay task folds
# the markers into the rows (reporting/filing/baselines.py). The rows are as the filings kept them so far: no data step.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_audit_chain'),
        ('reporting', '0038_calendar_generation'),
    ]

    operations = [
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
    ]
