import pytest
from django.db import DatabaseError

from reporting.catalogue.periods import Period
from reporting.models import Draft, Sheet, Submission, SubmissionVersion
from reporting.reads.selectors import versions_with_changes
from reporting.rejections import Problems
from reporting.services.submissions import (
    AlreadySubmitted,
    VersionConflict,
    add_record,
    correct_submission,
    save_draft,
    submit_sheet,
)
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics

Q4 = Period.parse("2026Q4")


@pytest.fixture
def basics(demo) -> Sheet:
    return Sheet.objects.get(code="village_basics")


def submit(cadre, sheet, raw, na=None, period=Q4):
    return submit_sheet(unit=cadre.unit, sheet=sheet, period=period, raw=raw, not_applicable=na or {}, by=cadre)


def carried_values(cadre) -> dict:
    q3 = cadre.unit.submissions.get(period="2026Q3").versions.get().values
    stable = [
        "registered_population",
        "resident_population",
        "households",
        "elderly_over_60",
        "culture_centre_area",
        "culture_squares",
        "library_books",
        "has_history_museum",
        "is_tourism_village",
        "arable_land",
    ]
    return {code: q3[code] for code in stable}


def test_it_stores_a_submission_and_counts_what_filing_once_saved(village_cadre, basics):
    raw = {**carried_values(village_cadre), "households": 999, "volunteers": "30"}
    version = submit(village_cadre, basics, raw)
    assert version.number == 1
    assert version.values["households"] == 999 and version.values["volunteers"] == 30
    assert version.carried_count == 9  # ten stable facts carried forward, one of them changed
    assert version.typed_count == 2
    assert version.department_count == 4
    # spared: registered_population (civil, stats) 1 + resident_population (culture, civil, stats) 2
    # + households (civil, stats) 1 + arable_land (stats) 0 + … every other field has one department
    assert version.refills_spared == 4


def test_invalid_answers_name_every_field_and_store_nothing(village_cadre, basics):
    raw = {**VILLAGE_BASICS_Q4, "households": "many", "culture_squares": "101", "registered_population": ""}
    with pytest.raises(Problems) as caught:
        submit(village_cadre, basics, raw)
    by_field = caught.value.by_field()
    assert set(by_field) == {"households", "culture_squares", "registered_population"}
    assert by_field["households"][0].message_zh == "户数：须为整数"
    assert by_field["households"][0].message_en == "Households: must be a whole number"
    assert by_field["culture_squares"][0].message_en == "Cultural squares: must be at most 100"
    assert by_field["registered_population"][0].rule == "required"
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()
    assert not SubmissionVersion.objects.filter(submission__unit=village_cadre.unit, submission__period="2026Q4")


def test_a_field_outside_the_one_table_is_refused(village_cadre, basics):
    with pytest.raises(Problems) as caught:
        submit(village_cadre, basics, {**VILLAGE_BASICS_Q4, "village_type": "heritage"})
    assert [(p.field, p.rule) for p in caught.value.problems] == [("village_type", "unknown")]
    assert "is not a field of this table" in caught.value.problems[0].message_en


def test_not_applicable_needs_a_reason_and_may_be_forbidden(village_cadre, basics):
    raw = dict(VILLAGE_BASICS_Q4)
    del raw["culture_centre_area"]
    with pytest.raises(Problems) as caught:
        submit(village_cadre, basics, raw, {"culture_centre_area": "  "})
    assert caught.value.problems[0].rule == "na.reason"
    assert "needs a reason" in caught.value.problems[0].message_en
    basics.fields.filter(code="culture_centre_area").update(allow_na=False)
    with pytest.raises(Problems) as caught:
        submit(village_cadre, basics, raw, {"culture_centre_area": "尚未建设"})
    assert caught.value.problems[0].rule == "na.forbidden"
    basics.fields.filter(code="culture_centre_area").update(allow_na=True)
    version = submit(village_cadre, basics, raw, {"culture_centre_area": "尚未建设"})
    assert version.not_applicable == {"culture_centre_area": "尚未建设"}
    assert "culture_centre_area" not in version.values and version.na_count == 1


def test_a_second_first_submission_is_refused(village_cadre, basics):
    file_village_basics(village_cadre)
    with pytest.raises(AlreadySubmitted):
        file_village_basics(village_cadre)
    assert Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").count() == 1


def test_a_correction_is_a_new_version_and_the_old_one_stays(village_cadre, basics):
    first = file_village_basics(village_cadre)
    second = correct_submission(
        submission=first.submission,
        raw={**VILLAGE_BASICS_Q4, "households": "620"},
        not_applicable={},
        reason="户数统计有误",
        by=village_cadre,
        expected_version=1,
    )
    assert second.number == 2 and second.reason == "户数统计有误"
    assert SubmissionVersion.objects.get(pk=first.pk).values["households"] == 610
    submission = Submission.objects.get(pk=first.submission_id)
    assert submission.current_version == 2 and submission.is_corrected
    (_latest, changes), (oldest, no_changes) = versions_with_changes(submission)
    assert [(c.code, c.before, c.after) for c in changes] == [("households", "610", "620")]
    assert no_changes == [] and oldest.number == 1


def test_a_correction_needs_a_reason_and_the_current_version(village_cadre, basics):
    first = file_village_basics(village_cadre)
    with pytest.raises(Problems) as caught:
        correct_submission(
            submission=first.submission,
            raw=VILLAGE_BASICS_Q4,
            not_applicable={},
            reason=" ",
            by=village_cadre,
            expected_version=1,
        )
    assert caught.value.problems[0].message_zh == "更正原因：必填"
    with pytest.raises(VersionConflict):
        correct_submission(
            submission=first.submission,
            raw=VILLAGE_BASICS_Q4,
            not_applicable={},
            reason="x",
            by=village_cadre,
            expected_version=2,
        )
    assert Submission.objects.get(pk=first.submission_id).current_version == 1


def test_versions_cannot_be_changed(village_cadre, basics):
    version = file_village_basics(village_cadre)
    version.values["households"] = 1
    with pytest.raises(DatabaseError, match="append-only"):  # PostgreSQL refuses; tests/core/test_append_only.py
        version.save()


def test_ledger_records_are_added_dated_and_edited_as_new_versions(village_cadre):
    ledger = Sheet.objects.get(code="cultural_activity")
    raw = {
        "activity_date": "2026-11-08",
        "activity_title": "村晚",
        "activity_venue": "村文化广场",
        "activity_category": "performance",
        "attendance": "230",
    }
    version = add_record(unit=village_cadre.unit, sheet=ledger, raw=raw, not_applicable={}, by=village_cadre)
    record = version.submission
    assert (record.period, str(record.record_date), record.record_key is not None) == ("202611", "2026-11-08", True)
    assert version.department_count == 2  # propaganda and culture both take the ledger
    second = add_record(
        unit=village_cadre.unit,
        sheet=ledger,
        raw={**raw, "activity_date": "2026-10-30"},
        not_applicable={},
        by=village_cadre,
    )
    assert second.submission.period == "202610"
    edited = correct_submission(
        submission=record,
        raw={**raw, "attendance": "260"},
        not_applicable={},
        reason="补录人数",
        by=village_cadre,
        expected_version=1,
    )
    assert edited.number == 2 and edited.values["attendance"] == 260


def test_a_ledger_record_needs_its_date(village_cadre):
    ledger = Sheet.objects.get(code="cultural_activity")
    with pytest.raises(Problems) as caught:
        add_record(
            unit=village_cadre.unit, sheet=ledger, raw={"activity_title": "x"}, not_applicable={}, by=village_cadre
        )
    assert caught.value.problems[0].message_zh == "活动日期：必填"
    assert not Submission.objects.filter(sheet=ledger).exists()


def test_a_draft_keeps_invalid_typing_and_is_dropped_on_submit(village_cadre, basics):
    save_draft(
        unit=village_cadre.unit, sheet=basics, period=Q4, raw={"values": {"households": "abc"}}, by=village_cadre
    )
    assert Draft.objects.get(unit=village_cadre.unit).raw["values"]["households"] == "abc"
    file_village_basics(village_cadre)
    assert not Draft.objects.filter(unit=village_cadre.unit).exists()


@pytest.mark.parametrize(("reason", "rule"), [(12, "text.type"), ("无\uffff", "text.character")])
def test_a_not_applicable_reason_of_the_wrong_kind_is_named_as_the_reason(village_cadre, basics, reason, rule):
    raw = {k: v for k, v in VILLAGE_BASICS_Q4.items() if k != "library_books"}
    with pytest.raises(Problems) as refused:
        submit(village_cadre, basics, raw, na={"library_books": reason})
    (problem,) = refused.value.problems
    assert (problem.field, problem.rule) == ("library_books", rule)
    assert problem.label_zh.endswith("（不适用原因）") and problem.label_en.endswith(" (not-applicable reason)")
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()


def test_a_value_and_not_applicable_for_one_field_are_refused(village_cadre, basics):
    with pytest.raises(Problems) as refused:
        submit(village_cadre, basics, VILLAGE_BASICS_Q4, na={"library_books": "无"})
    assert [(p.field, p.rule) for p in refused.value.problems] == [("library_books", "na.with_value")]


def test_a_department_counts_as_receiving_only_when_one_of_its_fields_is_answered(village_cadre, basics):
    # propaganda's only field here is the volunteers: left empty it is not sent, so propaganda receives nothing
    version = submit(village_cadre, basics, {**VILLAGE_BASICS_Q4, "volunteers": ""})
    assert "volunteers" not in version.values
    assert (version.department_count, version.refills_spared) == (3, 4)


def test_a_field_answered_not_applicable_is_sent_so_its_department_counts_but_spares_no_refill(village_cadre, basics):
    raw = {k: v for k, v in VILLAGE_BASICS_Q4.items() if k != "volunteers"}
    version = submit(village_cadre, basics, raw, na={"volunteers": "本村未登记志愿者"})
    assert version.not_applicable == {"volunteers": "本村未登记志愿者"}
    assert (version.department_count, version.refills_spared) == (4, 4)
