"""The benchmarks measure filings that are accepted: every month they file is open to filing, and a refusal
fails the run instead of becoming a rate."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine

from bench import compare, province, submit
from reporting.catalogue.periods import Period


def filers(periods: list[str]) -> submit.Filers:
    return submit.Filers([submit.Filer(f"token-{i}", i, i, "990000000000/") for i in range(3)], periods)


@pytest.mark.parametrize("months", [2, 24])
@pytest.mark.parametrize("today", [dt.date(2026, 11, 29), dt.date(2027, 3, 1), dt.date(2030, 1, 31)])
def test_every_month_the_submit_benchmark_files_has_begun_and_is_outside_the_history(months, today, monkeypatch):
    monkeypatch.setattr(submit, "SLOTS", itertools.count())
    periods = province.filing_periods(months, today)
    load = submit.Workload(filers(periods), 200, "test")  # 200 filings by 3 filers: dozens of months
    filed = {body.split(b'"period": "')[1][:6].decode() for body, _headers in load.api}
    history = {str(p) for p in province.history_periods(months)}
    assert len(filed) > 60
    assert all(Period.parse(p).has_begun(today) for p in filed)  # the filing rule's own notion of begun
    assert not filed & history
    assert all(Period.parse(p).start >= province.SUBSCRIBED_FROM for p in filed)  # the subscriptions cover them


def test_the_benchmark_files_this_month_first_on_the_local_date():
    with time_machine.travel(dt.datetime(2027, 3, 10, 12, tzinfo=dt.UTC), tick=False):
        assert province.filing_periods(2)[:5] == ["202703", "202702", "202701", "202612", "202611"]
        assert province.filing_periods(2)[5] == "202608"  # 202609–202610 are the quick history


def test_a_refused_filing_fails_the_benchmark_with_its_status_and_answer():
    with pytest.raises(submit.NotAnswered2xx) as error:
        submit.require_2xx("/api/v1/unit/submissions", [201, 400, 201, 400], ['400 {"code": "period.not_open"}'])
    assert "2 of 4 requests answered {400: 2}" in str(error.value)
    assert "period.not_open" in str(error.value)
    submit.require_2xx("/api/v1/unit/submissions", [201, 200, 201], [])  # all 2xx: nothing raised


def test_a_full_run_keeps_the_comparisons_it_did_not_make():
    report = "# Benchmarks\n\n## Submit\nold figures\n## Hot paths against an older commit (d)\n\n| a |\n## Other\nz\n"
    assert compare.kept(report) == "\n## Hot paths against an older commit (d)\n\n| a |\n"
