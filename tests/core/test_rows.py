"""core.rows.insert: one fixed INSERT that stores a row exactly as `Model.objects.create` would."""

import datetime as dt

import pytest
from django.db import DatabaseError

from core.models import AuditEvent
from core.rows import insert
from reporting.models import Sheet, Submission, SubmissionVersion


def test_it_stores_json_arrays_defaults_and_auto_now_add_as_create_would(village_cadre):
    sheet = Sheet.objects.get(code="village_basics")
    submission = Submission.objects.create(
        unit=village_cadre.unit, sheet=sheet, period="2027Q1", period_start=dt.date(2027, 1, 1)
    )
    version = insert(
        SubmissionVersion(
            submission=submission,
            number=1,
            period_start=submission.period_start,  # the fixed INSERT runs no save(): the filing names the key
            values={"households": 120, "note": "二组 “新” 户"},
            carried=["registered_population", "village_area"],
            by=village_cadre,
        )
    )
    assert version.pk and not version._state.adding
    stored = SubmissionVersion.objects.get(pk=version.pk)
    assert stored.values == {"households": 120, "note": "二组 “新” 户"}
    assert stored.carried == ["registered_population", "village_area"]
    assert stored.not_applicable == {} and stored.reason == "" and stored.asked_count == 0  # field defaults
    assert stored.at == version.at and version.at is not None  # auto_now_add, as the instance has it


def test_an_audit_event_is_appended_and_stays_append_only(village_cadre):
    event = insert(AuditEvent(actor=village_cadre, action="test.done", target_type="core.user", target_id="7"))
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.action, stored.target_id, stored.detail) == (village_cadre.pk, "test.done", "7", {})
    with pytest.raises(DatabaseError, match="append-only"):  # PostgreSQL refuses to rewrite an event
        stored.save()
