"""Burden figures checked against a scenario computed by hand."""

import datetime as dt
import re

import pytest
from django.core.management import call_command

from core.models import Area, User
from reporting.models import Sheet, Submission, Subscription, SubscriptionStatus
from reporting.reads.burden import burden_report
from reporting.services.submissions import add_record, correct_submission
from tests.reporting.helpers import ACTIVITY, subscribe

LEDGER = ["activity_date", "activity_title", "activity_venue", "activity_category", "attendance"]
NOVEMBER = {"start": dt.date(2026, 11, 1), "end": dt.date(2026, 11, 30)}


@pytest.fixture
def shared_ledger(village_cadre):
    """Two departments share the cultural-activity ledger; the village records one activity."""
    Subscription.objects.update(status=SubscriptionStatus.ENDED)
    subscribe("propaganda", LEDGER)
    subscribe("culture", LEDGER)
    add_record(
        unit=village_cadre.unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        not_applicable={},
        by=village_cadre,
        raw={
            "activity_date": "2026-11-08",
            "activity_title": "村晚",
            "activity_venue": "广场",
            "activity_category": "performance",
            "attendance": "230",
        },
    )
    return village_cadre.unit.area


def test_a_shared_ledger_is_typed_once_and_spared_once_per_extra_department(shared_ledger):
    report = burden_report(area=shared_ledger, **NOVEMBER)
    # by hand: 5 values typed once; without OneTable each of the 2 departments collects its own copy: 10
    assert (report.typed, report.without_onetable, report.saved, report.saved_percent) == (5, 10, 5, 50.0)
    assert [(p.month, p.typed, p.without_onetable, p.saved_percent) for p in report.trend] == [("2026-11", 5, 10, 50.0)]
    (unit,) = report.units
    assert (unit.asked, unit.typed, unit.carried, unit.not_applicable, unit.departments, unit.refills_spared) == (
        5,
        5,
        0,
        0,
        2,
        5,
    )
    by_department = {d.department.code: d for d in report.departments}
    assert set(by_department) == {"propaganda", "culture"}
    for burden in by_department.values():
        # 5 fields × 1 unit × 1 month, all shared with the other department;
        # typing time 8 + 20 + 20 + 5 + 8 = 61 seconds ≈ 1 minute
        assert (burden.fields, burden.values, burden.shared_values, burden.shared_percent, burden.minutes) == (
            5,
            5,
            5,
            100.0,
            1,
        )


def test_the_management_command_prints_the_same_numbers(shared_ledger, capsys):
    call_command("burden", "--from", "2026-11-01", "--to", "2026-11-30", "--area", shared_ledger.code, "--units")
    out = capsys.readouterr().out
    assert "values typed in OneTable: 5" in out
    assert "values without OneTable (each department its own copy, nothing carried forward): 10" in out
    assert "saved: 5 (50.0%)" in out
    assert "  propaganda 5 5 5 100.0% 1" in out and "  culture 5 5 5 100.0% 1" in out
    assert f"  {shared_ledger.code} 5 5 0 0 2 5" in out


def test_the_public_page_shows_them_and_ranks_no_unit(client, shared_ledger, office_admin):
    html = client.get(f"/burden/?from=2026-11-01&to=2026-11-30&area={shared_ledger.code}").content.decode()
    assert re.findall(r"<dd>([\d.%]+)</dd>", html) == ["5", "10", "5", "50.0%"]
    county = Area.objects.get(code="360799000000")
    client.force_login(office_admin)
    html = client.get(f"/burden/?from=2026-01-01&to=2026-12-31&area={county.code}&units=1").content.decode()
    for word in ("排名", "排行", "名次", "ranking", "Ranking", "leaderboard", "Top 10", "最差", "最好", "倒数"):
        assert word not in html
    codes = re.findall(r"<tr><td>(\d{12})</td>", html)
    assert codes and codes == sorted(codes)  # units by area code, never by a figure


def test_a_bad_date_or_area_on_the_command_is_named(demo):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"--from: .*must be a date"):
        call_command("burden", "--from", "2026-02-30", "--to", "2026-12-31")
    with pytest.raises(CommandError, match=r"--area: .*no area with the code “1”"):
        call_command("burden", "--from", "2026-01-01", "--to", "2026-12-31", "--area", "1")


def test_a_ledger_record_moved_by_a_correction_is_counted_at_the_date_it_was_first_filed_with(shared_ledger):
    # the burden figures read the first version on its own key (its year's partition only): a correction that
    # later moves the record to October leaves its first filing counted in November, where it was typed
    record = Submission.objects.get(sheet__code="cultural_activity", unit__area=shared_ledger)
    correct_submission(
        submission=record,
        raw={**ACTIVITY, "activity_date": "2026-10-20"},
        not_applicable={},
        reason="日期填错",
        by=User.objects.get(unit__area=shared_ledger),
        expected_version=1,
    )
    record.refresh_from_db()
    assert (record.period_start, record.current_version) == (dt.date(2026, 10, 20), 2)
    november = burden_report(area=shared_ledger, **NOVEMBER)
    assert (november.typed, [p.month for p in november.trend]) == (5, ["2026-11"])
    october = burden_report(area=shared_ledger, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31))
    assert (october.typed, october.trend, october.units) == (0, [], [])


UNIT_ROW = re.compile(r"<tr><td>(\d{12})</td>")


@pytest.mark.parametrize("who", ["village_cadre", "township_cadre", None])
def test_a_cadre_or_a_reader_not_signed_in_never_gets_the_table_of_every_unit(who, client, shared_ledger, request):
    # given the county's burden figures asked for with every unit (as the link for the office does)
    user = request.getfixturevalue(who) if who else None
    if user is not None:
        client.force_login(user)
    county = Area.objects.get(code="360799000000")
    html = client.get(f"/burden/?from=2026-01-01&to=2026-12-31&area={county.code}&units=1").content.decode()
    # then the county's figures are there, and no unit's row but the reader's own
    assert "<dd>" in html
    own = [user.unit.area.code] if user is not None else []
    assert UNIT_ROW.findall(html) in (own, [])
    assert "Show every unit" not in html and "显示全部单位" not in html
    if who == "village_cadre":  # the village filed the activity: its own row is shown
        assert UNIT_ROW.findall(html) == own


def test_the_office_and_a_department_see_every_unit(client, shared_ledger, office_admin, civil_analyst):
    county = Area.objects.get(code="360799000000")
    for user in (office_admin, civil_analyst):
        client.force_login(user)
        html = client.get(f"/burden/?from=2026-01-01&to=2026-12-31&area={county.code}&units=1").content.decode()
        assert len(UNIT_ROW.findall(html)) > 1


def test_the_trend_puts_every_month_of_the_range_on_its_axis(shared_ledger):
    # a filing in November only, asked from September: September and October are on the axis as zeros (a bar
    # chart of the months with filings alone put November beside whatever month came before it, time squeezed)
    report = burden_report(area=shared_ledger, start=dt.date(2026, 9, 15), end=dt.date(2026, 11, 30))
    assert [(p.month, p.typed, p.without_onetable) for p in report.trend] == [
        ("2026-09", 0, 0),
        ("2026-10", 0, 0),
        ("2026-11", 5, 10),
    ]
    across = burden_report(area=shared_ledger, start=dt.date(2025, 12, 1), end=dt.date(2026, 11, 30))
    assert [p.month for p in across.trend][:2] == ["2025-12", "2026-01"] and len(across.trend) == 12
