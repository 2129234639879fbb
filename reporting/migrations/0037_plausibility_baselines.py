# Each unit's plausibility baseline of each periodic sheet, kept on write (reporting/filing/baselines.py), filled
# from the versions stored so far by the same rebuild `manage.py rebuild_baselines` runs: in 0040 now (the rebuild
# writes the rows' columns of today, and 0040 adds one), so that a database migrated from before 0037 gets its
# rows there; one migrated past 0037 already has them, and 0040 makes them again.

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models



def fill(apps, schema_editor):
    pass  # 0040 fills the rows


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_audit_chain"),
        ("reporting", "0036_version_partitions"),
    ]

    operations = [
        migrations.CreateModel(
            name="PlausibilityBaseline",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "periods",
                    django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=16), default=list),
                ),
                ("kept", models.TextField(default="{}")),
                ("summaries", models.TextField(default="{}")),
                (
                    "sheet",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="reporting.sheet"
                    ),
                ),
                (
                    "unit",
                    models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="core.unit"),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("unit", "sheet"), name="one_baseline_per_unit_sheet")],
            },
        ),
        # Stored uncompressed (still out of line): a row is rewritten on every filing and read on every check,
        # and pglz took ~1 ms of each on a 200-field sheet's 26 kB; the rows are one per unit and sheet.
        migrations.RunSQL(
            "ALTER TABLE reporting_plausibilitybaseline ALTER COLUMN kept SET STORAGE EXTERNAL, "
            "ALTER COLUMN summaries SET STORAGE EXTERNAL",
            migrations.RunSQL.noop,
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
