import datetime as dt

import pytest
from django.utils import translation

from reporting.catalogue.periods import Period, PeriodError, PeriodType


@pytest.mark.parametrize(
    ("text", "period_type", "start", "end"),
    [
        ("202611", PeriodType.MONTHLY, dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        ("202602", PeriodType.MONTHLY, dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        ("202802", PeriodType.MONTHLY, dt.date(2028, 2, 1), dt.date(2028, 2, 29)),
        ("2026Q4", PeriodType.QUARTERLY, dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("2026q1", PeriodType.QUARTERLY, dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
        ("2026", PeriodType.YEARLY, dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
    ],
)
def test_it_parses_the_three_notations_with_their_dates(text, period_type, start, end):
    period = Period.parse(text)
    assert period.type is period_type
    assert (period.start, period.end) == (start, end)
    assert str(Period.parse(str(period))) == str(period)


@pytest.mark.parametrize(
    ("text", "next_", "previous"),
    [
        ("202612", "202701", "202611"),
        ("202601", "202602", "202512"),
        ("2026Q4", "2027Q1", "2026Q3"),
        ("2026Q1", "2026Q2", "2025Q4"),
        ("2026", "2027", "2025"),
    ],
)
def test_it_steps_to_the_next_and_previous_period(text, next_, previous):
    period = Period.parse(text)
    assert str(period.next()) == next_
    assert str(period.previous()) == previous
    assert period.next().previous() == period


def test_it_finds_the_period_containing_a_date():
    day = dt.date(2026, 11, 22)
    assert str(Period.containing(day, "monthly")) == "202611"
    assert str(Period.containing(day, PeriodType.QUARTERLY)) == "2026Q4"
    assert str(Period.containing(day, "yearly")) == "2026"
    assert Period.parse("2026Q4").contains(day)
    assert not Period.parse("202610").contains(day)


def test_it_lists_a_range_and_orders_periods():
    assert [str(p) for p in Period.parse("202611").periods_until(Period.parse("202602"))] == []
    assert [str(p) for p in Period.parse("202611").periods_until(Period.parse("202702"))] == [
        "202611",
        "202612",
        "202701",
        "202702",
    ]
    assert Period.parse("202611") < Period.parse("202612") < Period.parse("202701")


def test_it_labels_periods_in_chinese():
    with translation.override("zh-hans"):
        assert Period.parse("202611").label() == "2026年11月"
        assert Period.parse("2026Q4").label() == "2026年第4季度"
        assert Period.parse("2026").label() == "2026年"


def test_it_labels_periods_in_english_when_english_is_active():
    with translation.override("en"):
        assert Period.parse("202611").label() == "Nov 2026"
        assert Period.parse("202601").label() == "Jan 2026"
        assert Period.parse("2026Q4").label() == "2026 Q4"
        assert Period.parse("2026").label() == "2026"


@pytest.mark.parametrize(
    "text",
    [
        "202613",
        "202600",
        "2026Q5",
        "2026Q0",
        "26",
        "20261",
        "abcd",
        "2026W47",
        "1899",
        "3000",
        "2026-13",
        "2026-00",
        "2026-Q5",
        "2026-1",
        "2026--12",
        "2026Q-4",
    ],
)
def test_it_rejects_bad_period_strings_with_a_clear_message(text):
    with pytest.raises(PeriodError) as caught:
        Period.parse(text, field="period")
    problem = caught.value
    assert problem.field == "period"
    assert problem.rule in ("period.format", "period.year")
    if problem.rule == "period.format":
        assert "不是有效的报告期" in problem.message_zh
        assert (
            "is not a valid period; use the form 2026, 2026Q4 (or 2026-Q4) or 202611 (or 2026-11)" in problem.message_en
        )
    else:
        assert "between 1900 and 2999" in problem.message_en


@pytest.mark.parametrize("text", ["", "   ", None])
def test_an_empty_period_is_refused_as_required_not_as_an_invalid_period(text):
    with pytest.raises(PeriodError) as caught:
        Period.parse(text, field="period")
    assert (caught.value.field, caught.value.rule) == ("period", "required")
    assert caught.value.message == "报告期：必填 / Period: is required"


@pytest.mark.parametrize(
    ("typed", "notation"),
    [("2026-12", "202612"), ("2026-01", "202601"), ("2026-Q4", "2026Q4"), ("2026-q1", "2026Q1"), ("2026 Q4", "2026Q4")],
)
def test_it_reads_a_period_typed_as_people_write_it_in_the_dhis2_notation(typed, notation):
    assert str(Period.parse(f" {typed} ")) == notation
    assert Period.parse(typed) == Period.parse(notation)


@pytest.mark.parametrize(("typed", "notation"), [("2026-12", "202612"), ("2026-Q4", "2026Q4")])
def test_where_the_notation_is_required_a_typed_period_is_refused_naming_how_to_write_it(typed, notation):
    with pytest.raises(PeriodError) as caught:
        Period.parse(typed, field="period", strict=True)
    problem = caught.value
    assert (problem.field, problem.rule) == ("period", "period.notation")
    assert f"须写作 {notation}" in problem.message_zh
    assert f"must be written {notation}: here a period takes only the form 2026, 2026Q4 or 202611" in (
        problem.message_en
    )
    assert str(Period.parse(notation, strict=True)) == notation
