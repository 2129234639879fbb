"""Questions on a value (数据询问): a department asks on a value it received, every department receiving the
field reads the question and its answer, the unit asked answers once. No counts, badges, reminders or receipts."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.access import access_department, access_own_unit, signed_in
from core.models import Department
from reporting.access import access_unit_question
from reporting.catalogue.periods import Period
from reporting.models import Question, Submission, SubmissionVersion
from reporting.params import whole_number
from reporting.reads.accesslog import record_filing_read
from reporting.reads.charts import entitling_subscription
from reporting.reads.data import entitlements
from reporting.reads.questions import department_questions
from reporting.reads.selectors import display
from reporting.rejections import Problems
from reporting.services.questions import answer_question, ask_question


def question_row(q: Question) -> dict[str, Any]:
    answer = q.answer_version.values.get(q.field.code) if q.answer_version else None
    return {"q": q, "seen": display(q.field, q.value_seen), "corrected": display(q.field, answer)}


@login_required
def department_question_list(request: HttpRequest) -> HttpResponse:
    department = access_department(request.user)
    rows = [question_row(q) for q in reversed(department_questions(department))]
    return render(request, "department/questions.html", {"department": department, "rows": rows})


def _unit_filing(department: Department, pk: int | None) -> tuple[Submission, list, dict[int, list[str]]]:
    """The unit's own filing behind a data-page row (a supply's row names its unit's filing), the fields of it
    the department receives, each with its value now, and those fields by the subscription entitling the
    department to each; a 404 when it receives none of them."""
    found = Submission.objects.select_related("sheet", "unit__area").filter(pk=pk or 0).first()
    if found is not None and found.source_id is not None:
        found = (
            Submission.objects.by_units()
            .select_related("sheet", "unit__area")
            .filter(unit=found.unit, sheet=found.sheet, period=found.period, record_key=found.record_key)
            .first()
        )
    if found is None:
        raise Http404
    granted, period = entitlements(department), Period.parse(found.period)
    current = SubmissionVersion.objects.current_of(found).get()
    fields: list = []
    entitled: dict[int, list[str]] = {}
    for f in found.sheet.fields.order_by("order", "code"):
        subscription = entitling_subscription(granted, {f.code}, found.unit.area, period)
        if subscription is not None:
            fields.append((f, display(f, current.values.get(f.code))))
            entitled.setdefault(subscription, []).append(f.code)
    if not fields:
        raise Http404
    return found, fields, entitled


def _version(text: str) -> int | None:
    """The version a question is about: None (the current one) when none is posted; what is posted but not a
    whole number (a forged "-1" or "abc") is 0, which no version has, so the service refuses it by its rule."""
    if not text.strip():
        return None
    number = whole_number(text)
    return 0 if number is None else number


@login_required
@require_http_methods(["GET", "POST"])
def department_question_ask(request: HttpRequest, submission_pk: int) -> HttpResponse:
    department = access_department(request.user)
    submission, fields, entitled = _unit_filing(department, submission_pk)
    problems = []
    if request.method == "POST":
        try:
            ask_question(
                department=department,
                submission=submission,
                field=request.POST.get("field", ""),
                version=_version(request.POST.get("version", "")),
                text=request.POST.get("text", ""),
                by=signed_in(request.user),
            )
        except Problems as error:
            problems = error.problems
        else:
            messages.success(request, _("Your question was sent to the unit. Its answer appears on this page."))
            return redirect("department_questions")
    # the page shows the unit's values: a read the unit sees on its "who used my data" page, as a data page's
    record_filing_read(
        unit_id=submission.unit_id,
        department_id=department.pk,
        sheet_id=submission.sheet_id,
        period=submission.period,
        fields=entitled,
    )
    context = {
        "department": department,
        "submission": submission,
        "fields": fields,
        "problems": problems,
        # the page's inputs a problem may be about: each is tied to its own message
        "wrong": {p.field for p in problems} & {"field", "text"},
    }
    return render(
        request, "department/question_ask.html", {**context, "posted": request.POST}, status=400 if problems else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def unit_question(request: HttpRequest, pk: int) -> HttpResponse:
    unit = access_own_unit(request.user)
    question = access_unit_question(unit, pk)
    problems = []
    if request.method == "POST":
        try:
            answer_question(
                question=question,
                unit=unit,
                by=signed_in(request.user),
                value=request.POST.get("value") or None,
                explanation=request.POST.get("explanation", ""),
            )
        except Problems as error:
            problems = error.problems
        else:
            messages.success(request, _("Your answer was sent to every department that receives this value."))
            return redirect("cadre_home")
    current = SubmissionVersion.objects.current_of(question.submission).get()
    context = {
        "row": question_row(question),
        "now": display(question.field, current.values.get(question.field.code)),
        "problems": problems,
        # the page's two inputs that a problem may be about: each is tied to its own message
        "wrong": {p.field for p in problems} & {"value", "explanation"},
        "posted": request.POST,
    }
    return render(request, "township/question.html", context, status=400 if problems else 200)
