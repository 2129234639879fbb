import io
import re

from openpyxl import load_workbook

from core.models import Area, User
from reporting.models import ExportJob, ExportStatus, Submission, Subscription, SubscriptionStatus
from reporting.reads.exports import export_dir
from tests.reporting.helpers import subscribe
from tests.waiting import wait_for


def test_a_large_export_runs_in_the_background_with_progress_and_a_download(worker, client, demo):
    culture = User.objects.get(username="culture")
    client.force_login(culture)
    response = client.post("/department/exports/?sheet=village_basics", {"format": "xlsx"})
    job = ExportJob.objects.get()
    assert response["Location"] == f"/department/exports/{job.pk}/"
    assert wait_for(lambda: ExportJob.objects.get(pk=job.pk).status == ExportStatus.DONE, timeout=60)
    page = client.get(f"/department/exports/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "100" in page and f"/department/exports/{job.pk}/download/" in page
    download = client.get(f"/department/exports/{job.pk}/download/")
    workbook = load_workbook(io.BytesIO(b"".join(download.streaming_content)), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    assert len(rows) == 151 and "library_books" in " ".join(rows[0])
    assert ExportJob.objects.get(pk=job.pk).rows_done == 150
    # another department cannot see or download it
    client.force_login(User.objects.get(username="civil"))
    assert client.get(f"/department/exports/{job.pk}/").status_code == 404
    assert client.get(f"/department/exports/{job.pk}/download/").status_code == 404
    # a file the web server cannot find (deleted, or written by a worker that shares no folder with it): a page
    # that names it and why, not a server error
    job.refresh_from_db()
    (export_dir() / job.file).unlink()
    client.force_login(culture)
    gone = client.get(f"/department/exports/{job.pk}/download/")
    page = gone.content.decode()
    assert gone.status_code == 410
    assert job.file in page and "不在本服务器上" in page and "is not on this server" in page


def test_an_export_counts_only_the_filings_the_department_may_read(worker, client, demo):
    """Civil affairs takes one field for one township: its background export's progress counts that township's
    filings, not the county's (a count of what it may not read is a leak too)."""
    township = Area.objects.get(name="石门乡")
    Subscription.objects.filter(department__code="civil").update(status=SubscriptionStatus.ENDED)
    subscribe("civil", ["households"], scope=township)
    inside = Submission.objects.filter(sheet__code="village_basics", unit__area__path__startswith=township.path)
    assert 0 < inside.count() < Submission.objects.filter(sheet__code="village_basics").count()
    client.force_login(User.objects.get(username="civil"))
    client.post("/department/exports/?sheet=village_basics", {"format": "csv"})
    job = ExportJob.objects.get()
    assert wait_for(lambda: ExportJob.objects.get(pk=job.pk).status == ExportStatus.DONE, timeout=60)
    page = client.get(f"/department/exports/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    shown = re.search(r"(\d+) / (\d+)", page).groups()
    data = b"".join(client.get(f"/department/exports/{job.pk}/download/").streaming_content).decode("utf-8-sig")
    assert shown == (str(inside.count()), str(inside.count())) and len(data.strip().splitlines()) == inside.count() + 1
