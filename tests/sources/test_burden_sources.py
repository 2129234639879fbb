"""Burden figures and the catalogue count register values: confirmed ones are not typed."""

from __future__ import annotations

import datetime as dt

from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from core.models import Department, Unit, User
from reporting import demo_sources
from reporting.models import Field, Submission, SubmissionVersion
from reporting.reads.burden import burden_filters, burden_report
from tests.reporting.helpers import text_of

TODAY = dt.date(2026, 11, 29)


def _villages() -> list[Unit]:
    return sorted(Unit.objects.filter(area__level="village").select_related("area"), key=lambda v: v.area.code)


def _demo_registers() -> None:
    """The demo's registers on the tests' county (loaded without them): sources and supplies."""
    demo_sources.assign_sources()
    filed = {
        v.submission.unit_id: v.values
        for v in SubmissionVersion.objects.filter(submission__period="2026Q3", submission__source=None).select_related(
            "submission"
        )
    }
    demo_sources.supply(_villages(), demo_sources.registers(_villages(), filed))


def _confirm_in_a_correction(unit: Unit) -> SubmissionVersion:
    """The unit's 2026Q3 filing corrected: two register values confirmed, one disputed (as the unit's part
    stores a filing's answers)."""
    submission = Submission.objects.by_units().get(unit=unit, period="2026Q3")
    first = submission.versions.get(number=1)
    version = SubmissionVersion.objects.create(
        submission=submission,
        number=2,
        values=first.values,
        confirmed=["registered_population"],
        disputed={"elderly_over_60": {"reason": "新迁入", "register": 1}},
        by=User.objects.get(unit=unit),
        typed_count=len(first.values) - 1,
        confirmed_count=1,
        disputed_count=1,
    )
    Submission.objects.filter(pk=submission.pk).update(current_version=2)
    return version


def test_supplies_are_typed_by_nobody_and_confirmed_values_count_as_not_typed(demo, capsys):
    start, end, area = burden_filters(start="2026-07-01", end="2026-12-31", area=None, today=TODAY)
    before = burden_report(start=start, end=end, area=area)
    assert (before.confirmed, before.disputed, before.not_typed_percent) == (0, 0, 0.0)
    _demo_registers()
    after = burden_report(start=start, end=end, area=area)
    # 900 supply versions were stored, but no unit typed any of them
    assert Submission.objects.supplies().count() == 900
    assert (after.typed, after.without_onetable) == (before.typed, before.without_onetable)
    assert [(p.month, p.typed) for p in after.trend] == [(p.month, p.typed) for p in before.trend]


def test_the_burden_page_and_command_show_confirmed_disputed_and_the_share_not_typed(demo, capsys):
    unit = _villages()[0]
    typed = sum(
        SubmissionVersion.objects.filter(submission__period="2026Q3", number=1).values_list("typed_count", flat=True)
    )
    # the village's civil-affairs filing of 2026Q3 answered the register: 3 values confirmed, 1 disputed
    submission = Submission.objects.create(
        unit=unit,
        sheet=Field.objects.get(code="dibao_people").sheet,
        period="2026Q3",
        period_start=TODAY.replace(month=7, day=1),
    )
    SubmissionVersion.objects.create(
        submission=submission,
        number=1,
        values={
            "dibao_households": 5,
            "dibao_people": 11,
            "destitute_people": 2,
            "elderly_over_60": 300,
            "veterans": 4,
        },
        confirmed=["dibao_households", "dibao_people", "destitute_people"],
        disputed={"elderly_over_60": {"reason": "新迁入", "register": 288}},
        by=User.objects.get(unit=unit),
        typed_count=2,
        confirmed_count=3,
        disputed_count=1,
    )
    start, end, area = burden_filters(start="2026-07-01", end="2026-09-30", area=None, today=TODAY)
    report = burden_report(start=start, end=end, area=area)
    assert (report.typed, report.confirmed, report.disputed) == (typed + 2, 3, 1)
    share = round(100 * 3 / (typed + 2 + 3), 1)
    assert report.not_typed_percent == share
    # the quarter's filings are counted in the month it begins; August and September are on the axis as zeros
    july, *rest = report.trend
    assert (july.month, july.confirmed, july.not_typed_percent) == ("2026-07", 3, share)
    assert [(p.month, p.typed) for p in rest] == [("2026-08", 0), ("2026-09", 0)]
    page = Client().get("/burden/?from=2026-07-01&to=2026-09-30")
    assert page.status_code == 200
    figures = text_of(page.content.decode(), 'id="sources"', "</dl>")
    assert " 3 " in f" {figures} " and f"{share}%" in figures
    call_command("burden", "--from", "2026-07-01", "--to", "2026-09-30")
    out = capsys.readouterr().out
    assert f"supplied by registers and confirmed: 3; disputed: 1; not typed by the grassroots: {share}%" in out


def test_the_catalogue_shows_each_fields_source_its_last_supply_and_the_share_from_it(demo, office_admin):
    _demo_registers()
    _confirm_in_a_correction(_villages()[0])
    client = Client()
    client.force_login(office_admin)
    html = client.get("/office/catalogue/").content.decode()
    row = text_of(html, 'data-field="registered_population"', "</tr>")
    supplied = SubmissionVersion.objects.filter(submission__source__code="stats").latest("at").at
    assert "青山县统计局" in row and f"{timezone.localtime(supplied):%Y-%m-%d}" in row
    assert "0.7%" in row and "2026年第3季度" in row  # 1 of the 150 villages confirmed it
    assert "0.7%" not in text_of(html, 'data-field="dibao_people"', "</tr>")  # supplied, nobody confirmed yet
    assert "青山县民政局" in text_of(html, 'data-field="dibao_people"', "</tr>")
    assert Department.objects.get(code="stats").sourced_fields.count() == 1
    assert Field.objects.get(code="households").source is None
