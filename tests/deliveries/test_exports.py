import io

from openpyxl import load_workbook

from core.models import User
from reporting.models import ExportJob, ExportStatus
from tests.deliveries.conftest import wait_for


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
