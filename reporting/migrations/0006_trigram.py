from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    """pg_trgm: character n-gram similarity, which works for Chinese names, for the review's overlap search."""

    dependencies = [("reporting", "0005_data_requests")]
    operations = [TrigramExtension()]
