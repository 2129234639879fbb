"""Pages for township and village cadres: what is due, fill it once, correct it, keep ledgers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.access import access_own_unit, signed_in
from core.models import Unit
from reporting.access import access_unit_sheet, access_unit_submission
from reporting.catalogue.fieldtypes import parse_value
from reporting.catalogue.fieldtypes.base import is_blank
from reporting.catalogue.periods import Period, PeriodError
from reporting.filing import excel, idempotency
from reporting.filing.checks import kept_explanations, rules_data
from reporting.filing.forms import draft_answers, only_prefilled, read_disputes, read_post, read_seen, rows_for
from reporting.filing.offline import filed_drafts, offline_data
from reporting.filing.onetable import (
    OneTable,
    due_items,
    filing_table,
    ledger_sheets,
    period_closed,
    sheet_calendar,
)
from reporting.models import (
    AccessRecord,
    Dispute,
    Draft,
    Field,
    QuestionStatus,
    Sheet,
    Submission,
    SubmissionVersion,
    Unlock,
)
from reporting.params import whole_number
from reporting.reads.questions import unit_questions
from reporting.reads.selectors import changed_meanwhile, current_versions, display, versions_with_changes
from reporting.rejections import Problem, Problems
from reporting.services.submissions import (
    AlreadySubmitted,
    VersionConflict,
    add_record,
    correct_submission,
    save_draft,
    submit_sheet,
    validate_answers,
)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@require_http_methods(["GET", "HEAD"])
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker (static/js/sw.js), served from the site's root so that its scope covers the cadre's
    pages; never cached by the browser's HTTP cache, so a new version reaches phones on their next visit."""
    path = finders.find("js/sw.js")
    if not isinstance(path, str):
        raise Http404
    with open(path, encoding="utf-8") as script:
        response = HttpResponse(script.read(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@login_required
def cadre_home(request: HttpRequest) -> HttpResponse:
    unit = access_own_unit(request.user)
    items = due_items(unit=unit)
    periods: dict[str, list] = {}
    # the soonest due date first, so what is past due or nearest comes first whatever its period type
    for item in sorted(items, key=lambda i: i.due_on or dt.date.max):
        periods.setdefault(item.period.label(), []).append(item)
    context = {
        "unit": unit,
        "periods": periods,
        # every sheet of the period locked: no Excel template or upload is offered, the page says why instead
        "locked_periods": {label for label, listed in periods.items() if all(i.locked for i in listed)},
        "ledgers": ledger_sheets(unit=unit),
        # a plain list, open ones only: no count, badge or reminder (design invariant 5)
        "questions": unit_questions(unit).filter(status=QuestionStatus.OPEN)[:50],
        "unlocks": Unlock.objects.filter(unit=unit, until__gte=timezone.localdate()).select_related("sheet"),
    }
    return render(request, "township/home.html", context)


def _parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except PeriodError:
        raise Http404 from None


@login_required
@require_http_methods(["GET", "POST"])
def fill(request: HttpRequest, sheet_code: str, period: str) -> HttpResponse:
    unit = access_own_unit(request.user)
    sheet = access_unit_sheet(unit, sheet_code)
    the_period = _parse_period(period)
    if sheet.is_ledger or the_period.type != sheet.period_type:
        raise Http404
    existing = (
        Submission.objects.by_units().filter(unit=unit, sheet=sheet, period=period, record_key__isnull=True).first()
    )
    if existing and request.method == "GET":
        return redirect("submission", pk=existing.pk)
    # filed meanwhile in another tab: a draft saved there is not lost either (a submit is refused by
    # `submit_sheet`, after a resent form's token has had its first answer)
    if existing and request.POST.get("action") == "draft":
        return _typed_onto_correction(request, unit, existing, Problem(field="sheet", rule="already_submitted.kept"))
    try:
        calendar = sheet_calendar(sheet)  # the filing window and the due date shown, kept per generation
        table = filing_table(unit=unit, sheet=sheet, period=the_period, calendar=calendar)
    except Problems as error:
        return _not_open(request, sheet, error)
    context = {
        "table": table,
        "due_on": calendar.due_on(sheet, the_period),
        "token": uuid.uuid4().hex,
        "checks_data": rules_data(table),
        "offline": offline_data(table),
    }
    if request.method == "GET":
        draft = Draft.objects.filter(unit=unit, sheet=sheet, period=period).first()
        values, na = draft_answers(draft.raw) if draft else ({}, {})
        reasons = draft.raw.get("disputes") if draft else None
        reasons = reasons if isinstance(reasons, dict) else {}
        # a draft opened again says again what submitting it would refuse, as when it was saved
        to_fix = _draft_problems(table, values, na, reasons) if draft else []
        rows = rows_for(table, values=values, not_applicable=na, problems=Problems(to_fix).by_field(), disputes=reasons)
        return render(request, "township/fill.html", {**context, "rows": rows, "draft_problems": to_fix})
    raw, na = read_post(table, request.POST)
    disputes = read_disputes(table, request.POST)
    seen = read_seen(table, request.POST)
    if request.POST.get("action") == "draft":
        raw = only_prefilled(table, raw, disputes, seen)
        save_draft(
            unit=unit,
            sheet=sheet,
            period=the_period,
            raw={"values": raw, "not_applicable": na, "disputes": disputes},
            by=signed_in(request.user),
        )
        messages.success(request, _("Draft saved. Nothing is sent until you submit."))
        to_fix = _draft_problems(table, raw, na, disputes)
        if not to_fix:
            return redirect("fill", sheet_code=sheet.code, period=period)
        # a draft holds anything typed; what submitting would refuse is said now, beside each answer, not at the end
        rows = rows_for(table, values=raw, not_applicable=na, problems=Problems(to_fix).by_field(), disputes=disputes)
        return render(request, "township/fill.html", {**context, "rows": rows, "draft_problems": to_fix})
    return _submit_once(
        request,
        context,
        table,
        raw,
        na,
        lambda: submit_sheet(
            unit=unit,
            sheet=sheet,
            period=the_period,
            raw=raw,
            not_applicable=na,
            by=signed_in(request.user),
            disputes=disputes,
            explanations=_explanations(request),
            ask_explanations=True,
            seen=seen,
        ),
        disputes,
    )


_WARNINGS = ("rule.warning", "plausibility.warning")


def _draft_problems(table, raw: dict, na: dict, disputes: dict) -> list[Problem]:
    """What submitting this draft would refuse among the answers the cadre gave (an empty answer is not yet one:
    a draft is unfinished by nature), checked as a submission is and storing nothing."""
    given = {code for code, value in raw.items() if not is_blank(value)}  # blank as the field types judge it
    try:
        validate_answers(table, raw, na, disputes)
    except Problems as found:
        return [p for p in found.problems if p.field in given or p.field in na or p.field in disputes]
    return []


def _explanations(request: HttpRequest) -> dict[str, str]:
    """The explanations the cadre typed under the warnings (`explain__rule:<code>`, `explain__plausibility:<f>`)."""
    return {key[len("explain__") :]: request.POST.get(key, "") for key in request.POST if key.startswith("explain__")}


def _not_open(request: HttpRequest, sheet, error: Problems) -> HttpResponse:
    """The page that says why this sheet cannot be filed now (the same words as the API's refusal)."""
    return render(request, "township/not_open.html", {"sheet": sheet, "problems": error.problems}, status=400)


def _submit_once(request, context, table, raw, na, action, disputes=None) -> HttpResponse:
    """Run `action` once per form token: a double click or a resent form gets the first result.

    The token is claimed in the transaction that files: a refused form rolls the claim back
    with everything else, so the cadre fixes the form and sends it again with the same token."""
    token = request.POST.get("token", "")
    if not token or len(token) > 100:  # the page's own tokens are 32 characters; a forged one protects nothing
        token = uuid.uuid4().hex

    def work() -> tuple[int, dict]:
        version = action()
        return 303, {"redirect": reverse("submission", args=[version.submission_id]) + "?done=1"}

    try:
        try:
            answer = idempotency.run_once(
                user=request.user, key=f"form:{token}", fingerprint=idempotency.request_hash(request.path), work=work
            )
        except idempotency.KeyReused:  # a token of another form protects nothing either: file under a new one
            answer = idempotency.run_once(user=request.user, key=f"form:{uuid.uuid4().hex}", fingerprint="", work=work)
    except idempotency.KeyInFlight:
        messages.info(request, _("Your submission is being saved; this page will show it shortly."))
        return redirect(request.path)
    except Problems as error:
        # a register value that changed since the page was opened is shown as it is now, to be confirmed
        moved = {p.field for p in error.problems if p.rule == "register.changed"}
        raw = {code: value for code, value in raw.items() if code not in moved}
        rows = rows_for(
            table, values=raw, not_applicable=na, problems=error.by_field(), use_carried=False, disputes=disputes
        )
        extra = [p for p in error.problems if p.field not in table.by_code()]
        typed = _explanations(request)
        warnings = [{"problem": p, "text": typed.get(p.field, "")} for p in error.problems if p.rule in _WARNINGS]
        return render(
            request,
            "township/fill.html",
            {
                **context,
                "rows": rows,
                "problems": error.problems,
                "other_problems": extra,
                "warnings": warnings,
                "explained_keys": [p.field for p in error.problems if p.rule in _WARNINGS],
                "must_fix": len(error.problems) - len(warnings),
                **_form_extras(request),
            },
            status=400,
        )
    except AlreadySubmitted as error:  # filed by another tab at the same moment
        said = Problem(field="sheet", rule="already_submitted.kept")
        return _typed_onto_correction(request, access_own_unit(request.user), error.submission, said)
    except VersionConflict as error:  # corrected by another tab meanwhile: the typed correction is kept
        submission = context["submission"]
        said = Problem(field="sheet", rule="version.conflict.kept", params={"current": error.current})
        return _typed_onto_correction(request, access_own_unit(request.user), submission, said)
    return redirect(answer.body["redirect"])


def _form_extras(request) -> dict:
    return {"reason": request.POST.get("reason", "")}


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    unit = access_own_unit(request.user)
    submission = access_unit_submission(unit, pk)
    history = versions_with_changes(submission)
    current = history[0][0]
    fields = {f.code: f for f in submission.sheet.fields.order_by("order", "code")}
    answers = [
        (
            fields.get(code),
            display(fields.get(code), current.values.get(code), current.not_applicable.get(code)),
            _origin_of(code, current),
            _disputed(fields.get(code), current.disputed.get(code)),
        )
        for code in fields
        if code in current.values or code in current.not_applicable
    ]
    return render(
        request,
        "township/submission.html",
        {
            "submission": submission,
            "current": current,
            "answers": answers,
            "history": history,
            "warned": any(version.explanations for version, _changes in history),
            "done": request.GET.get("done") == "1",
            "filed_drafts": filed_drafts(submission, done=request.GET.get("done") == "1"),
            # said before the cadre opens a correction that would be refused: which lock, and who lifts it
            "locked": period_closed(
                sheet=submission.sheet,
                period=Period.parse(submission.period),
                today=timezone.localdate(),
                unit=unit,
                first=False,
            ),
        },
    )


def _disputed(f, dispute: Any) -> dict[str, str] | None:
    """What the page says beside a disputed value: the register value disputed and the unit's reason."""
    if not isinstance(dispute, dict):
        return None
    return {"register": display(f, dispute.get("register"), None), "reason": str(dispute.get("reason") or "")}


def _origin_of(code: str, version: SubmissionVersion) -> str:
    """How the page marks an answer: "na" (not applicable: no unit of measure after it), "carried", "confirmed",
    "disputed" or ""."""
    if code in version.not_applicable:
        return "na"
    if code in version.disputed:
        return "disputed"
    if code in version.confirmed:
        return "confirmed"
    return "carried" if code in version.carried else ""


def _correction_form(unit, submission: Submission) -> tuple[SubmissionVersion, OneTable, dict[str, Any]]:
    """The correction form of `submission` on its current version: that version, the table and the page's
    context; Problems when it cannot be corrected now."""
    current = SubmissionVersion.objects.current_of(submission).get()
    sheet = submission.sheet
    table = filing_table(
        unit=unit,
        sheet=sheet,
        period=Period.parse(submission.period),
        # a record dated ahead before that was refused can still be corrected (its new date is checked)
        day=min(submission.record_date, timezone.localdate()) if submission.record_date else None,
        filed=current,
        carry=False,
    )
    context = {
        "table": table,
        "submission": submission,
        "token": uuid.uuid4().hex,
        "correcting": True,
        "base_version": submission.current_version,
        "checks_data": {"rules": [], "kinds": {}}
        if sheet.is_ledger
        # the explanations the version holds: shown under a warning still raised, kept unless changed
        else {**rules_data(table), "explained": kept_explanations(current.explanations)},
        "offline": offline_data(table, submission=submission),
        "action": reverse("correct", args=[submission.pk]),
    }
    return current, table, context


def _typed_onto_correction(request: HttpRequest, unit, submission: Submission, said: Problem) -> HttpResponse:
    """A form posted on a filing that moved on meanwhile (filed, or corrected, from another tab or phone): nothing
    is stored, and the correction form of the current version comes back holding what was typed (values,
    not-applicable answers, disputes, the reason), with `said` saying why."""
    submission.refresh_from_db()
    try:
        current, table, context = _correction_form(unit, submission)
    except Problems as error:
        return _not_open(request, submission.sheet, error)
    raw, na = read_post(table, request.POST)
    disputes = read_disputes(table, request.POST)
    rows = rows_for(table, values=raw, not_applicable=na, use_carried=False, disputes=disputes)
    # what the newer version changed, beside what the cadre typed: submitting again decides, nothing goes back unseen
    base = whole_number(request.POST.get("base_version", ""))
    changed = [
        (change, _as_typed(change.field, change.code, raw, na))
        for change in changed_meanwhile(submission, base, current)
    ]
    return render(
        request,
        "township/fill.html",
        {**context, "rows": rows, "conflict": said, "changed": changed, **_form_extras(request)},
        status=409,
    )


def _as_typed(f: Field | None, code: str, raw: dict, na: dict) -> str:
    """A posted answer as the version pages show one (the field's words), or as typed when it does not parse."""
    if code in na:
        return display(f, None, na[code])
    typed = raw.get(code)
    if f is not None:
        try:
            return display(f, parse_value(f.type, f.constraints, typed, field=code))
        except Problem:
            pass
    return "、".join(map(str, typed)) if isinstance(typed, list) else str(typed or "—")


@login_required
@require_http_methods(["GET", "POST"])
def correct(request: HttpRequest, pk: int) -> HttpResponse:
    unit = access_own_unit(request.user)
    submission = access_unit_submission(unit, pk)
    try:
        current, table, context = _correction_form(unit, submission)
    except Problems as error:
        return _not_open(request, submission.sheet, error)
    if request.method == "GET":
        # a confirmed value shows the register's value now (the source may have corrected it since); a disputed
        # one, the unit's own value and reason
        values = {code: v for code, v in current.values.items() if code not in current.confirmed}
        reasons = {code: d.get("reason", "") for code, d in current.disputed.items() if isinstance(d, dict)}
        rows = rows_for(
            table, values=values, not_applicable=current.not_applicable, use_carried=False, disputes=reasons
        )
        return render(request, "township/fill.html", {**context, "rows": rows})
    raw, na = read_post(table, request.POST)
    disputes = read_disputes(table, request.POST)
    seen = read_seen(table, request.POST)
    expected = whole_number(request.POST.get("base_version", ""))
    return _submit_once(
        request,
        context,
        table,
        raw,
        na,
        lambda: correct_submission(
            submission=submission,
            raw=raw,
            not_applicable=na,
            reason=request.POST.get("reason", ""),
            by=signed_in(request.user),
            expected_version=-1 if expected is None else expected,
            disputes=disputes,
            explanations=_explanations(request),
            ask_explanations=True,
            seen=seen,
        ),
        disputes,
    )


@login_required
def ledger(request: HttpRequest, sheet_code: str) -> HttpResponse:
    unit = access_own_unit(request.user)
    sheet = access_unit_sheet(unit, sheet_code)
    if not sheet.is_ledger:
        raise Http404
    # the unit's own records and those a source department supplied from its register (shown as supplied: they
    # are not the unit's to confirm); a supplied record whose values were all withdrawn is gone
    records = _newest_records(unit, sheet)
    fields = {f.code: f for f in sheet.fields.all()}
    title_field = next((c for c in fields if fields[c].field_type.is_text), None)
    rows = [
        (v.submission, v.values.get(sheet.record_date_field), _record_title(v, fields, title_field), v) for v in records
    ]
    return render(request, "township/ledger.html", {"sheet": sheet, "rows": rows})


LEDGER_SHOWN = 200


def _newest_records(unit: Unit, sheet: Sheet) -> list[SubmissionVersion]:
    """The newest records' current versions, picked from the submissions a page at a time and read in the years of
    their dates only (usually one page: only a supplied record whose values were all withdrawn is left out)."""
    picked = (
        Submission.objects.filter(unit=unit, sheet=sheet)
        .select_related("source", "sheet")
        .order_by("-record_date", "-id")
    )
    records: list[SubmissionVersion] = []
    start = 0
    while True:
        page = list(picked[start : start + LEDGER_SHOWN])
        records += [v for v in current_versions(page) if v.submission.source_id is None or v.values != {}]
        if len(records) >= LEDGER_SHOWN or len(page) < LEDGER_SHOWN:
            return records[:LEDGER_SHOWN]
        start += LEDGER_SHOWN


def _record_title(version: SubmissionVersion, fields: dict[str, Field], title_field: str | None) -> str:
    """A record's title; a supplied record without one is named by its values ("参与人数 30")."""
    title = version.values.get(title_field) if title_field else None
    if title or version.submission.source_id is None:
        return title or ""
    sheet = version.submission.sheet
    shown = [(code, value) for code, value in version.values.items() if code != sheet.record_date_field]
    return " · ".join(f"{fields[c].name} {display(fields[c], v)}" for c, v in shown[:3] if c in fields)


@login_required
@require_http_methods(["GET", "POST"])
def ledger_add(request: HttpRequest, sheet_code: str) -> HttpResponse:
    unit = access_own_unit(request.user)
    sheet = access_unit_sheet(unit, sheet_code)
    if not sheet.is_ledger:
        raise Http404
    today = timezone.localdate()
    try:
        table = filing_table(unit=unit, sheet=sheet, day=today, carry=False)
    except Problems as error:
        return _not_open(request, sheet, error)
    context = {
        "table": table,
        "token": uuid.uuid4().hex,
        "ledger": True,
        "checks_data": {"rules": [], "kinds": {}},
        "offline": offline_data(table),
    }
    if request.method == "GET":
        rows = rows_for(table, values={sheet.record_date_field: today.isoformat()})
        return render(request, "township/fill.html", {**context, "rows": rows})
    raw, na = read_post(table, request.POST)
    return _submit_once(
        request,
        context,
        table,
        raw,
        na,
        lambda: add_record(unit=unit, sheet=sheet, raw=raw, not_applicable=na, by=signed_in(request.user)),
    )


@login_required
def excel_template(request: HttpRequest, period: str) -> HttpResponse:
    unit = access_own_unit(request.user)
    the_period = _parse_period(period)
    try:
        content = excel.build_template(unit, the_period)
    except Problems as error:
        return render(request, "township/not_open.html", {"problems": error.problems}, status=400)
    response = HttpResponse(content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="onetable-{unit.area.code}-{period}.xlsx"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def excel_upload(request: HttpRequest, period: str) -> HttpResponse:
    unit = access_own_unit(request.user)
    the_period = _parse_period(period)
    context: dict = {"period": the_period}
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None or (upload.size or 0) > MAX_UPLOAD_BYTES:
            context["file_error"] = True
            return render(request, "township/upload.html", context, status=400)
        try:
            stored = excel.import_workbook(
                unit=unit, period=the_period, content=upload.read(), by=signed_in(request.user)
            )
        except excel.UploadRejected as error:
            context["problems"] = error.problems
            return render(request, "township/upload.html", context, status=400)
        said = _("The workbook was accepted: %(sheets)d sheets submitted and %(records)d ledger records stored.")
        messages.success(request, said % {"sheets": stored.sheets, "records": stored.records})
        return redirect("cadre_home")
    return render(request, "township/upload.html", context)


@login_required
def data_use(request: HttpRequest) -> HttpResponse:
    """Who received or read this unit's data, when, which fields, under which subscription."""
    unit = access_own_unit(request.user)
    records = (
        AccessRecord.objects.filter(unit=unit)
        .select_related("department", "sheet", "subscription")
        .order_by("-at")[:300]
    )
    codes = {code for record in records for code in record.fields}
    labels = {f.code: f.name for f in Field.objects.filter(code__in=codes).only("code", "name_zh", "name_en")}
    rows = [(r, [labels.get(code, code) for code in r.fields]) for r in records]
    # the unit's disputes of register values and the sources' answers (no unread markers: design invariant 5)
    disputes = [
        (
            d,
            display(d.field, d.register_value),
            display(d.field, d.unit_value),
            display(d.field, d.answer_version.values.get(d.field.code)) if d.answer_version else "",
        )
        for d in Dispute.objects.filter(unit=unit)
        .select_related("field", "source", "answer_version")
        .order_by("-created_at", "-pk")[:100]
    ]
    return render(request, "township/data_use.html", {"unit": unit, "rows": rows, "disputes": disputes})
