"""Long unbroken text someone typed (a correction's reason, the office's reason for a decision) wraps on a phone
instead of widening the page: a tester's 5,000-character reason once made the version log 39,869 px wide."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from core.models import Area, Department, User
from reporting.models import Submission
from reporting.services.requests import RequestInput, review_request, save_request, submit_request
from reporting.services.submissions import correct_submission
from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.test_department_and_office import login
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics

UNBROKEN = "x" * 300  # the longest correction reason there is, without a space to break it at


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
def test_a_long_correction_reason_wraps_in_the_version_log_on_a_phone(demo, live_server, browser_page):
    cadre = User.objects.select_related("unit").get(username="village")
    version = file_village_basics(cadre)
    submission = Submission.objects.get(pk=version.submission_id)
    correct_submission(
        submission=submission,
        raw={**VILLAGE_BASICS_Q4, "households": "640"},
        not_applicable={},
        reason=UNBROKEN,
        by=cadre,
        expected_version=1,
    )
    page = browser_page
    login(page, live_server.url, "village")
    page.goto(f"{live_server.url}/submissions/{submission.pk}/")
    expect(page.get_by_text(UNBROKEN)).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "long-reason-version-log-phone.png"), full_page=True)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
def test_a_long_rejection_reason_wraps_on_the_departments_request_page_on_a_phone(demo, live_server, browser_page):
    stats, office = User.objects.get(username="stats"), User.objects.get(username="office")
    request = save_request(
        department=Department.objects.get(code="stats"),
        by=stats,
        data=RequestInput(
            title="人口与村容监测",
            purpose="y" * 1000,
            legal_basis="《统计法》",
            scope=Area.objects.get(code="360799000000"),
            first_period="202612",
            proposed=[
                {
                    "code": "hukou_count",
                    "name_zh": "户籍人口数",
                    "name_en": "Registered people",
                    "type": "integer",
                    "sheet": "township_monthly",
                    "constraints": {"min": 0},
                }
            ],
        ),
    )
    submit_request(request=request, by=stats)
    review_request(request=request, by=office, approve=False, reason="z" * 1000)
    page = browser_page
    login(page, live_server.url, "stats")
    page.goto(f"{live_server.url}/department/requests/{request.pk}/")
    expect(page.get_by_text("z" * 1000).first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "long-reason-request-phone.png"), full_page=True)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
