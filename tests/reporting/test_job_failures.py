"""A failed export or register supply job says so in the reader's language; the error behind it (an exception's
text, a server path) is for the log, never for the page."""

import io
import re

import pytest
from django.test import Client

from core.models import User
from reporting.models import ExportJob, ExportStatus, Field, SupplyJob, SupplyJobStatus
from reporting.reads.exports import export_dir, run_export
from reporting.services.supplies import run_supply_job, start_supply_job

CJK = re.compile(r"[\u3400-\u9fff]")
RAW = 'psycopg.errors.UndefinedTable: relation "reporting_secret" does not exist at /srv/onetable/data'


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def _page(user: User, url: str, language: str) -> str:
    client = Client(raise_request_exception=True)
    client.cookies["django_language"] = language
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _error_text(page: str) -> str:
    return " ".join(re.findall(r'<p class="error"[^>]*>(.*?)</p>', page, re.S))


def test_a_failed_export_says_so_in_the_readers_language_and_logs_the_exception(culture_analyst, caplog):
    job = ExportJob.objects.create(
        department=culture_analyst.department, by=culture_analyst, format="csv", params={"sheet": "village_basics"}
    )
    (export_dir() / f"export-{job.pk}.csv").mkdir()  # the file cannot be written: an OSError naming the path
    with pytest.raises(OSError):
        run_export(job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert "Is a directory" in caplog.text  # the detail is in the log
    zh = _error_text(_page(culture_analyst, f"/department/exports/{job.pk}/", "zh-hans"))
    en = _error_text(_page(culture_analyst, f"/department/exports/{job.pk}/", "en"))
    assert "导出时发生意外错误" in zh and "Errno" not in zh and "export-" not in zh
    assert "The export could not be written" in en and not CJK.search(en) and "Errno" not in en


def test_an_export_that_failed_with_a_stored_exception_does_not_show_it(culture_analyst):
    job = ExportJob.objects.create(
        department=culture_analyst.department,
        by=culture_analyst,
        format="csv",
        params={"sheet": "village_basics"},
        status=ExportStatus.FAILED,
        error=RAW,
    )
    page = _page(culture_analyst, f"/department/exports/{job.pk}/", "en")
    assert "psycopg" not in page and "/srv/" not in page and "The export could not be written" in page


@pytest.fixture
def civil(civil_analyst) -> User:
    Field.objects.filter(code="dibao_people").update(source=civil_analyst.department)
    return civil_analyst


def _supply(user: User, body: bytes, format: str = "json") -> SupplyJob:
    job = start_supply_job(
        department=user.department, by=user, format=format, body=io.BytesIO(body), options={"atomic": True}
    )
    run_supply_job(job.pk)
    job.refresh_from_db()
    assert job.status == SupplyJobStatus.FAILED
    return job


def test_a_supply_that_could_not_be_read_says_why_in_the_readers_language(civil):
    job = _supply(civil, b"this is not JSON")
    zh = _error_text(_page(civil, f"/department/supplies/jobs/{job.pk}/", "zh-hans"))
    en = _error_text(_page(civil, f"/department/supplies/jobs/{job.pk}/", "en"))
    assert CJK.search(zh) and "JSON" in zh
    assert "JSON" in en and not CJK.search(en), en  # English alone, not the stored "中文 / English"


def test_a_supply_job_that_stored_an_exception_shows_the_rule_not_the_exception(civil):
    job = SupplyJob.objects.create(
        department=civil.department, by=civil, format="csv", status=SupplyJobStatus.FAILED, error=RAW, summary={}
    )
    for language, said in (("zh-hans", "导入意外中止"), ("en", "the import stopped unexpectedly")):
        page = _page(civil, f"/department/supplies/jobs/{job.pk}/", language)
        assert said in _error_text(page) and "psycopg" not in page and "/srv/" not in page
