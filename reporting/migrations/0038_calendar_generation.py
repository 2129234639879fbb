# The office's calendar (due-date rules and exceptions) decides whether a period takes a filing, on every filing:
# a filing process keeps it per catalogue generation (reporting.filing.onetable.sheet_calendar) beside the sheets'
# catalogue, so a change to it moves the generation on like a change to the catalogue does.

from django.db import migrations

TABLES = ["reporting_duerule", "reporting_dueexception"]
FORWARD = [
    f"CREATE TRIGGER bump_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION reporting_bump_catalogue()"
    for table in TABLES
]
BACKWARD = [f"DROP TRIGGER bump_catalogue ON {table}" for table in TABLES]


class Migration(migrations.Migration):

    dependencies = [
        ("reporting", "0037_plausibility_baselines"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
