"""The demo county's own checks (reporting/demo.py, `CHECKS`): a demo user meets rules across fields, expected
ranges and the plausibility hint, and the demo's own history keeps every rule."""

from __future__ import annotations

import pytest

from reporting import demo as demo_county
from reporting.catalogue import rules
from reporting.models import ExpectedRange, Plausibility, SubmissionVersion, ValidationRule
from reporting.rejections import Problems
from tests.reporting.helpers import file_village_basics


@pytest.fixture
def checks(demo):
    demo_county.load_checks()  # the tests' county is loaded without them (tests/conftest.py)


def test_the_demo_office_has_rules_ranges_and_a_threshold(checks):
    assert set(ValidationRule.objects.values_list("code", "importance")) == {
        (c["code"], c["importance"]) for c in demo_county.CHECKS
    }
    assert {r.field.code: (r.low, r.high) for r in ExpectedRange.objects.select_related("field")} == {
        code: (low, high) for code, (low, high) in demo_county.EXPECTED_RANGES.items()
    }
    assert Plausibility.objects.get().enabled


def test_the_demo_history_keeps_every_demo_rule(checks):
    definitions = [(r.sheet_id, r.definition()) for r in ValidationRule.objects.all()]
    versions = list(SubmissionVersion.objects.select_related("submission"))
    assert versions  # the demo's 2026Q3 filings
    broken = [
        (version.submission.unit_id, definition["code"])
        for version in versions
        for sheet_id, definition in definitions
        if sheet_id == version.submission.sheet_id and rules.evaluate(definition, version.values) == rules.FAIL
    ]
    assert broken == []


def test_a_demo_rule_refuses_a_filing_by_name_and_a_demo_warning_asks_for_a_reason(checks, village_cadre):
    with pytest.raises(Problems) as refused:
        file_village_basics(village_cadre, households="2500")  # more households than the 2,100 registered
    assert [(p.rule, p.params.get("code")) for p in refused.value.problems] == [
        ("rule.error", "households_within_population")
    ]
    assert "户数不能多于户籍人口" in refused.value.problems[0].message_zh
    assert "households cannot outnumber the registered population" in refused.value.problems[0].message_en
    assert not SubmissionVersion.objects.filter(submission__unit=village_cadre.unit, submission__period="2026Q4")
    # a warning: stored, with the explanation it asked for
    version = file_village_basics(village_cadre, resident_population="3500")
    assert "rule:resident_near_registered" in version.explanations
