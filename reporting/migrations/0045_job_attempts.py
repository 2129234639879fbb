"""Export and report jobs count how many times a worker took them, as supply jobs do (0044): the sweep stops
sending one that kills every worker. Jobs already there start at 0."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0044_supply_job_attempts"),
    ]

    operations = [
        migrations.AddField(
            model_name="exportjob",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="reportjob",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
