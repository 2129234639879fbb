"""The checks on submit done once and kept: a unit's plausibility baseline reused while its history is the same
(and recomputed when a filing or a correction changes it), each rule compiled into closures that give the
shared cases' outcomes, and the shortcuts that let most numbers through without computing their z-score."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from reporting.catalogue import expressions, rules
from reporting.catalogue.periods import Period
from reporting.models import Sheet, Submission
from reporting.reads import rules as reads
from reporting.services.submissions import correct_submission
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics
from tests.rollups.test_expressions import outcome
from tests.rules.test_rules import _history

CASES = Path(expressions.__file__).with_name("expression_cases.json")
HOUSEHOLDS = [600, 604, 598, 610, 602, 606, 599, 601, 603]  # 2023Q1 … 2025Q1, oldest first


def _baseline(cadre, period: str = "2026Q4") -> rules.Baseline:
    sheet = Sheet.objects.get(code="village_basics")
    return reads.history_summaries(cadre.unit, sheet, Period.parse(period), ["households", "volunteers"])


def _recomputed(cadre, period: str = "2026Q4") -> rules.Baseline:
    """The same baseline computed from nothing kept (what a fresh process would read)."""
    reads._BASELINES.clear()
    return _baseline(cadre, period)


def _correct_households(cadre, period: str, households: int) -> None:
    submission = Submission.objects.get(unit=cadre.unit, sheet__code="village_basics", period=period)
    correct_submission(
        submission=submission,
        raw={**VILLAGE_BASICS_Q4, "households": str(households)},
        not_applicable={},
        reason="typo",
        by=cadre,
        expected_version=submission.current_version,
    )


def test_it_reuses_a_baseline_while_the_history_is_the_same(village_cadre):
    _history(village_cadre, HOUSEHOLDS)
    first = _baseline(village_cadre)
    assert _baseline(village_cadre) is first  # kept: the second read only named the same versions
    assert dict(first) == dict(_recomputed(village_cadre))
    file_village_basics(village_cadre, period="2026Q4")  # a later period is not part of 2026Q4's history
    assert _baseline(village_cadre) == first


def test_a_correction_of_an_earlier_period_changes_the_baseline(village_cadre):
    _history(village_cadre, HOUSEHOLDS)
    before = _baseline(village_cadre)
    _correct_households(village_cadre, "2026Q3", 9000)  # the demo's filing, the newest of the history
    after = _baseline(village_cadre)
    assert after["households"].last[0] == 9000 and before["households"].last[0] != 9000
    assert dict(after) == dict(_recomputed(village_cadre))


def test_a_late_filing_of_an_earlier_period_changes_the_baseline(village_cadre):
    _history(village_cadre, HOUSEHOLDS)
    before = _baseline(village_cadre)
    file_village_basics(village_cadre, period="2026Q1", households="7000")  # a quarter the history had no filing for
    after = _baseline(village_cadre)
    assert after["households"].size == before["households"].size + 1 and 7000 in after["households"].last
    assert dict(after) == dict(_recomputed(village_cadre))


def test_the_warning_on_submit_follows_a_correction_made_after_the_form_was_opened(client, village_cadre):
    # given a cadre who opened the form (its hint computed the unit's baseline)
    _history(village_cadre, HOUSEHOLDS)
    client.force_login(village_cadre)
    token = client.get("/fill/village_basics/2026Q4/").context["token"]
    # when the last quarter is corrected to 6100 households before the form is sent with 6100
    _correct_households(village_cadre, "2026Q3", 6100)
    values = {**VILLAGE_BASICS_Q4, "households": "6100"}
    post = {"token": token, "action": "submit", **{f"v__{k}": v for k, v in values.items()}}
    response = client.post("/fill/village_basics/2026Q4/", post)
    # then the form asks about 6100 against the corrected history (newest first), not the one it was opened on
    assert response.status_code == 400
    page = response.content.decode()
    assert "6100、603、601" in page or "6100, 603, 601" in page


def _unit_cases() -> list[dict]:
    cases = json.loads(CASES.read_text(), parse_float=Decimal)["cases"]
    return [c for c in cases if set(c["inputs"]) <= {"values"}]


@pytest.mark.parametrize("case", _unit_cases(), ids=lambda c: c["name"])
def test_a_compiled_formula_gives_every_shared_case_over_a_units_values_its_outcome(case):
    assert outcome(expressions.compiled(case["tree"])(case["inputs"].get("values") or {})) == case["expected"]


def test_shown_gives_a_whole_number_and_a_shown_number_back_unchanged():
    numbers = random.Random(22)
    for digits in range(1, 29):
        whole = numbers.randint(10 ** (digits - 1), 10**digits - 1) * numbers.choice([1, -1])
        assert repr(expressions.shown(Decimal(whole))) == repr(expressions.shown(Decimal(f"{whole}.0")))
    for _ in range(2000):
        number = Decimal(numbers.randint(-(10**12), 10**12)).scaleb(-numbers.randint(0, 12))
        once = expressions.shown(number)
        assert repr(expressions.shown(once)) == repr(once)


def test_a_number_within_the_usual_reach_is_never_implausible_by_history():
    numbers = random.Random(7)
    for _ in range(3000):
        earlier = [numbers.choice([numbers.uniform(-1e6, 1e6), numbers.randint(0, 50)]) for _ in range(12)]
        summary = rules.summarise(earlier)
        threshold = float(numbers.choice(["1.0", "3.5", "10.0"]))
        usual = rules.Baseline({"f": summary}).usual(threshold)
        if "f" not in usual:
            assert summary.mad == 0
            continue
        median, reach = usual["f"]
        edge = threshold * summary.mad / rules.Z_FACTOR
        for x in (median + reach, median - reach, median + edge, median - edge, numbers.uniform(-2e6, 2e6)):
            value = Decimal(repr(x))
            if abs(float(value) - median) <= reach:
                assert rules.implausible(value, low=None, high=None, summary=summary, threshold=threshold) is None
