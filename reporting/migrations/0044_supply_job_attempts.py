"""Each supply job counts how many times a worker took it, so the sweep stops sending one that kills every worker.

Jobs already there start at 0: a job running now gets its full number of tries."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0043_version_keys_carried"),
    ]

    operations = [
        migrations.AddField(
            model_name="supplyjob",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
