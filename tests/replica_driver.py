"""OneTable as deployed with a replica (DATABASE_URL the primary, DATABASE_REPLICA_URL its replica), driven by
tests/test_replica.py in a process of its own: `setup`, `file <library books>`, `read` (prints what each read
path shows of the village's library books, as JSON).

    python -m tests.replica_driver read
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys

import django

django.setup()

from django.conf import settings  # noqa: E402

# pages name their static files as tests/conftest.py serves them: from the source folders, no collectstatic
_SOURCE_FOLDERS = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
settings.STORAGES = {**settings.STORAGES, "staticfiles": _SOURCE_FOLDERS}

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402

from core.models import User  # noqa: E402
from core.replica import on_replica, primary_only  # noqa: E402
from core.tokens import issue_token  # noqa: E402
from reporting.catalogue.periods import Period  # noqa: E402
from reporting.models import Sheet, Submission  # noqa: E402
from reporting.reads.data import Query  # noqa: E402
from reporting.reads.exports import export_dir, read_page, run_export  # noqa: E402
from reporting.services.exports import request_export  # noqa: E402
from reporting.services.submissions import correct_submission, submit_sheet  # noqa: E402
from tests.reporting.helpers import VILLAGE_BASICS_Q4  # noqa: E402

PERIOD = "2026Q3"
FIELD = "library_books"


def _village() -> User:
    return User.objects.select_related("unit__area__parent").get(username="village")


def setup() -> None:
    from reporting.demo import load_demo

    call_command("migrate", verbosity=0)
    load_demo(sources=False, checks=False, deliver=False)


def file(books: str) -> None:
    """The village files (or corrects) its basics for PERIOD with `books` library books."""
    cadre = _village()
    sheet = Sheet.objects.get(code="village_basics")
    raw = {**VILLAGE_BASICS_Q4, FIELD: books}
    found = Submission.objects.filter(unit=cadre.unit, sheet=sheet, period=PERIOD, record_key=None).first()
    if found is None:
        submit_sheet(unit=cadre.unit, sheet=sheet, period=Period.parse(PERIOD), raw=raw, not_applicable={}, by=cadre)
        return
    correct_submission(
        submission=found,
        raw=raw,
        not_applicable={},
        reason="更正 correction",
        by=cadre,
        expected_version=found.current_version,
    )


def _csv_value(content: bytes, code: str) -> str:
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    column = next(i for i, name in enumerate(table[0]) if name.split()[-1].startswith(code))
    [row] = [r for r in table[1:] if r[0] == _village().unit.area.code]
    return row[column]


def _page_value(html: str) -> str:
    """The library books in the village's row of the data page (its only row: the page is filtered to it)."""
    body = html[html.index("<tbody") : html.index("</tbody>")]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
    return cells[-2].replace(",", "")  # the last column is the "ask about a value" link


def read() -> dict:
    """What each read path shows; every read is a request or a job as a department makes it."""
    village = _village().unit.area
    township = village.parent
    culture = User.objects.get(username="culture")
    browser = Client()
    browser.force_login(culture)
    filters = {"sheet": "village_basics", "fields": FIELD, "period_from": PERIOD, "period_to": PERIOD}
    page = browser.get("/department/data/", {**filters, "area": village.code})
    csv_ = browser.get("/department/data.csv", {**filters, "area": village.code})
    chart = browser.get("/department/chart/", {"field": FIELD, "area": township.code, "period": PERIOD})
    series = json.loads(re.search(r'<script id="series" type="application/json">(.*?)</script>', chart.text).group(1))
    token = issue_token(user=culture, name="replica test")[1]
    dhis2 = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    values = dhis2.get(
        "/dhis2/api/dataValueSets", {"dataSet": "village_basics", "period": PERIOD, "orgUnit": village.code}
    )
    analytics = dhis2.get(
        "/dhis2/api/40/analytics.json", {"dimension": [f"dx:{FIELD}", f"pe:{PERIOD}", f"ou:{township.code}"]}
    )
    params = {**filters, "fields": [FIELD], "area": None}
    job = request_export(department=culture.department, by=culture, format="csv", params=params)
    run_export(job.pk)  # as the export worker runs it
    exported = (export_dir() / f"export-{job.pk}.csv").read_bytes()
    query = Query(department=culture.department, sheet=Sheet.objects.get(code="village_basics"), fields=[FIELD],
                  period_from=PERIOD, period_to=PERIOD, area=village, limit=50)  # fmt: skip
    with primary_only():  # as in a request that writes
        pinned = read_page(query)
    with on_replica() as outside:
        pass
    with transaction.atomic(), on_replica() as in_transaction:  # it may have written in it
        pass
    return {
        "statuses": [r.status_code for r in (page, csv_, chart, values, analytics)],
        "page": _page_value(page.text),
        "csv": _csv_value(b"".join(csv_.streaming_content), FIELD),
        "export": _csv_value(exported, FIELD),
        "chart": dict(zip(series["periods"], series["totals"], strict=True))[PERIOD],  # the township's sum
        "dhis2": {v["dataElement"]: v["value"] for v in json.loads(b"".join(values.streaming_content))["dataValues"]},
        "analytics": analytics.json()["rows"],
        "pinned": pinned[0].values[FIELD],
        "aliases": [outside, in_transaction],
    }


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "read":
        print(json.dumps(read(), ensure_ascii=False, default=str))
    else:
        {"setup": setup, "file": file}[command](*args)
