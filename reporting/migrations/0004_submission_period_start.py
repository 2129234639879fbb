from django.db import migrations, models


def backfill(apps, schema_editor):
    from reporting.catalogue.periods import Period

    Submission = apps.get_model("reporting", "Submission")
    for submission in Submission.objects.filter(period_start__isnull=True).iterator():
        start = submission.record_date or Period.parse(submission.period).start
        Submission.objects.filter(pk=submission.pk).update(period_start=start)


class Migration(migrations.Migration):
    dependencies = [("reporting", "0003_outbox")]

    operations = [
        migrations.AddField(
            model_name="submission", name="period_start", field=models.DateField(null=True, db_index=True)
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(model_name="submission", name="period_start", field=models.DateField(db_index=True)),
    ]
