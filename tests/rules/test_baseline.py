"""The checks on submit done once and kept: a unit's plausibility baseline kept on write in its own table (and
agreeing with the one the versions give after filings, late filings, corrections and a register's supplies), each
rule compiled into closures that give the shared cases' outcomes, and the shortcuts that let most numbers through
without computing their z-score."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from core.models import Department, User
from reporting.catalogue import expressions, rules
from reporting.catalogue.periods import Period
from reporting.filing import baselines
from reporting.models import BaselinePending, Field, PlausibilityBaseline, Sheet, Submission
from reporting.services.rules import set_plausibility
from reporting.services.submissions import correct_submission
from reporting.services.supplies import SupplyRow, supply_values
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics
from tests.rollups.test_expressions import outcome
from tests.rules.test_rules import _history

CASES = Path(expressions.__file__).with_name("expression_cases.json")
HOUSEHOLDS = [600, 604, 598, 610, 602, 606, 599, 601, 603]  # 2023Q1 … 2025Q1, oldest first
NUMBERS = ["households", "volunteers", "registered_population", "library_books", "culture_centre_area", "arable_land"]


def _baseline(cadre, period: str = "2026Q4", codes: list[str] | None = None) -> rules.Baseline:
    sheet = Sheet.objects.get(code="village_basics")
    return baselines.history_summaries(cadre.unit, sheet, Period.parse(period), codes or ["households", "volunteers"])


def _from_versions(cadre, period: str = "2026Q4", codes: list[str] | None = None) -> dict[str, rules.Summary]:
    """The baseline as the versions give it, read anew: the unit's last 12 filings of the sheet before `period`
    (current versions, newest first), each field summarised."""
    filings = (
        Submission.objects.by_units()
        .filter(unit=cadre.unit, sheet__code="village_basics", record_key__isnull=True, period__lt=period)
        .order_by("-period")[: rules.HISTORY]
    )
    rows = [s.versions.get(number=s.current_version).values for s in filings]
    found = {code: rules.summarise([row.get(code) for row in rows]) for code in codes or ["households", "volunteers"]}
    return {code: summary for code, summary in found.items() if summary is not None}


def _correct(cadre, period: str, **changes: str) -> None:
    submission = Submission.objects.by_units().get(unit=cadre.unit, sheet__code="village_basics", period=period)
    correct_submission(
        submission=submission,
        raw={**VILLAGE_BASICS_Q4, **changes},
        not_applicable={},
        reason="typo",
        by=cadre,
        expected_version=submission.current_version,
    )


def _correct_households(cadre, period: str, households: int) -> None:
    _correct(cadre, period, households=str(households))


def test_the_kept_baseline_is_the_one_the_versions_give(village_cadre):
    _history(village_cadre, HOUSEHOLDS)
    first = _baseline(village_cadre)
    assert dict(first) == _from_versions(village_cadre) and first["households"].size == len(HOUSEHOLDS) + 1
    file_village_basics(village_cadre, period="2026Q4")  # a later period is not part of 2026Q4's history
    assert dict(_baseline(village_cadre)) == dict(first)


def _hint(cadre, period: str, households: str) -> dict:
    """The warnings a filing of `period` gets (made, then undone)."""
    with transaction.atomic():
        version = file_village_basics(cadre, period=period, households=households)
        transaction.set_rollback(True)
    return version.explanations


def test_a_second_filing_before_the_fold_gets_the_hint_it_gets_after(village_cadre):
    # given nine quarters of history and the demo's 2026Q3, folded
    _history(village_cadre, HOUSEHOLDS)
    # when the unit files 2026Q2 late with an unusual number and nothing has folded its marker yet
    file_village_basics(village_cadre, period="2026Q2", households="6100")
    assert BaselinePending.objects.filter(unit=village_cadre.unit, period="2026Q2").exists()
    kept = PlausibilityBaseline.objects.get(unit=village_cadre.unit, sheet__code="village_basics")
    assert "2026Q2" not in kept.periods  # the row is behind the filing
    before = _hint(village_cadre, "2026Q4", "6150")
    # then a second filing gets the hint the versions give, 6100 among the earlier values, as after the fold
    assert "6100" in before["plausibility:households"]["message_en"]
    assert baselines.fold_baselines() == 1 and not BaselinePending.objects.exists()
    kept.refresh_from_db()
    assert kept.periods[:2] == ["2026Q3", "2026Q2"]
    assert _hint(village_cadre, "2026Q4", "6150") == before
    assert dict(_baseline(village_cadre, "2026Q4")) == _from_versions(village_cadre, "2026Q4")


def test_the_marker_is_written_with_the_check_off_so_switching_it_on_finds_the_baseline_current(village_cadre):
    _history(village_cadre, HOUSEHOLDS)
    office = User.objects.get(username="office")
    set_plausibility(threshold="3.5", enabled=False, by=office)
    file_village_basics(village_cadre, period="2026Q2", households="6100")
    assert _hint(village_cadre, "2026Q4", "6150") == {}  # off: no hint
    assert BaselinePending.objects.filter(unit=village_cadre.unit, period="2026Q2").exists()
    baselines.fold_baselines()
    set_plausibility(threshold="3.5", enabled=True, by=office)
    assert baselines.baselines_differing() == []
    assert "6100" in _hint(village_cadre, "2026Q4", "6150")["plausibility:households"]["message_en"]


def test_a_correction_of_an_earlier_period_changes_the_baseline(village_cadre):
    _history(village_cadre, HOUSEHOLDS)
    before = _baseline(village_cadre)
    _correct_households(village_cadre, "2026Q3", 9000)  # the demo's filing, the newest of the history
    after = _baseline(village_cadre)
    assert after["households"].last[0] == 9000 and before["households"].last[0] != 9000
    assert dict(after) == _from_versions(village_cadre)


def test_a_late_filing_of_an_earlier_period_changes_the_baseline(village_cadre):
    _history(village_cadre, HOUSEHOLDS)
    before = _baseline(village_cadre)
    file_village_basics(village_cadre, period="2026Q1", households="7000")  # a quarter the history had no filing for
    after = _baseline(village_cadre)
    assert after["households"].size == before["households"].size + 1 and 7000 in after["households"].last
    assert dict(after) == _from_versions(village_cadre)


def _agree(cadre) -> None:
    """Every period's baseline is the versions', before the filings' markers are folded (a worker has not run yet)
    and after; then the kept rows are what a rebuild from the versions makes."""
    periods = ["2023Q2", "2024Q1", "2025Q2", "2025Q4", "2026Q1", "2026Q3", "2026Q4", "2027Q1"]
    for period in periods:
        assert dict(_baseline(cadre, period, NUMBERS)) == _from_versions(cadre, period, NUMBERS), period
    baselines.fold_baselines()  # as the relay task does after commit
    assert not BaselinePending.objects.exists()
    assert baselines.baselines_differing() == []
    for period in periods:
        expected = _from_versions(cadre, period, NUMBERS)
        one_by_one = _baseline(cadre, period, NUMBERS)  # each field's entry decoded alone, as the check does
        assert {c: s for c in NUMBERS if (s := one_by_one.get(c)) is not None} == expected, period
        assert dict(_baseline(cadre, period, NUMBERS)) == expected, period


def test_the_kept_baselines_agree_with_a_rebuild_after_filings_corrections_and_supplies(village_cadre):
    # given nine quarters of history and the demo's 2026Q3
    _history(village_cadre, HOUSEHOLDS)
    _agree(village_cadre)
    # when the unit files the newest quarter, then corrects it and an older one
    file_village_basics(village_cadre, period="2026Q4", volunteers="50", culture_centre_area="310.2")
    _correct(village_cadre, "2026Q4", households="640", arable_land="2300.5")
    _correct(village_cadre, "2025Q1", households="5000", library_books="")
    _agree(village_cadre)
    # and files three quarters late, so that more periods are filed than the rows keep (KEPT)
    for period, households in [("2025Q3", "611"), ("2025Q2", "612"), ("2026Q1", "613")]:
        file_village_basics(village_cadre, period=period, households=households)
    assert Submission.objects.by_units().filter(unit=village_cadre.unit, sheet__code="village_basics").count() > 13
    _agree(village_cadre)
    # and corrects the second newest
    _correct(village_cadre, "2026Q3", households="9000", volunteers="")
    _agree(village_cadre)
    # and a register supplies a value of the sheet for the newest quarter, then withdraws it
    civil, analyst = Department.objects.get(code="civil"), User.objects.get(username="civil")
    Field.objects.filter(code="volunteers").update(source=civil)
    area = village_cadre.unit.area.code
    supplied, withdrawn = ("77", False), ("", True)
    for value, delete in [supplied, withdrawn]:
        row = SupplyRow("1", area, "2026Q4", "volunteers", value, delete)
        result = supply_values(department=civil, rows=[row], by=analyst)
        assert not result.refused
    # then the unit's baseline is its own filings' still, and the kept rows agree with a rebuild
    _agree(village_cadre)
    kept = PlausibilityBaseline.objects.get(unit=village_cadre.unit, sheet__code="village_basics")
    assert len(kept.periods) == baselines.KEPT and kept.periods[0] == "2026Q4"
    out = StringIO()
    call_command("rebuild_baselines", "--check", stdout=out)
    assert "differing: 0" in out.getvalue()


def test_a_period_older_than_every_kept_one_leaves_a_full_row_as_it_is():
    periods = [f"20{30 - n}Q1" for n in range(baselines.KEPT)]
    window = {"households": list(range(baselines.KEPT))}
    assert baselines.rolled(periods, window, "2000Q1", {"households": 5}) == (periods, window)
    fewer = baselines.rolled(periods[:3], {"households": [1, 2, 3]}, "2000Q1", {"households": 5})
    assert fewer == ([*periods[:3], "2000Q1"], {"households": [1, 2, 3, 5]})


def test_the_rebuild_command_makes_a_lost_row_again(village_cadre):
    _history(village_cadre, HOUSEHOLDS)
    before = dict(_baseline(village_cadre))
    PlausibilityBaseline.objects.filter(unit=village_cadre.unit).delete()
    assert baselines.baselines_differing() != []
    call_command("rebuild_baselines", "--sheet", "village_basics", stdout=StringIO())
    assert baselines.baselines_differing() == [] and dict(_baseline(village_cadre)) == before


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
    for digits in range(1, expressions.MAX_SHOWN_DIGITS + 1):
        whole = numbers.randint(10 ** (digits - 1), 10**digits - 1) * numbers.choice([1, -1])
        assert repr(expressions.shown(Decimal(whole))) == repr(expressions.shown(Decimal(f"{whole}.0")))
    for too_large in (
        Decimal(10**expressions.MAX_SHOWN_DIGITS),
        Decimal("-1E+35"),
        Decimal("1.5E+22"),
    ):
        with pytest.raises(expressions.TooLarge):  # past what can be shown: a named reason, not InvalidOperation
            expressions.shown(too_large)
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
