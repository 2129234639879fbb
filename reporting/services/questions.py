"""Questions on a value (数据询问): a department that doubts a value it received asks the unit, on that value;
the unit answers once, with a correction (a new version through `correct_submission`, which reaches every
subscriber) or an explanation. Every department that receives the field sees the question and its answer.
Nothing here counts, reminds, times or records who opened what (design invariant 5)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from core.audit import audited, record
from core.models import Department, Unit, User
from reporting.catalogue.fieldtypes.base import is_blank
from reporting.catalogue.periods import Period
from reporting.models import Question, QuestionStatus, Submission, SubmissionVersion
from reporting.reads.charts import entitling_subscription
from reporting.reads.data import entitlements
from reporting.rejections import Problem, Problems, storable, too_long, trimmed
from reporting.services.submissions import correct_submission

TEXT_MAX = 1000  # characters: a question or an explanation is a sentence or two, like a correction's reason
ANSWER_REASON = "答复数据询问 / answer to a question"


# Each input by the words its form shows (the ask and answer pages), in every refusal of it, page and API alike.
LABELS = {
    "field": ("数值", "Value"),
    "version": ("版本", "Version"),
    "text": ("询问内容", "Your question"),
    "value": ("更正为", "Correct the value to"),
    "explanation": ("说明", "Explanation"),
}


def _labelled(field: str, rule: str, params: dict[str, Any] | None = None) -> Problem:
    zh, en = LABELS[field]
    return Problem(field=field, rule=rule, params=params, label_zh=zh, label_en=en)


def _text(text: Any, field: str, *, required: bool) -> tuple[str, list[Problem]]:
    text = trimmed(text) if isinstance(text, str) else ""
    if not text:
        return "", [_labelled(field, "required")] if required else []
    if not storable(text):
        return text, [_labelled(field, "text.character")]
    zh, en = LABELS[field]
    return text, too_long(text, TEXT_MAX, field=field, label_zh=zh, label_en=en)


@audited("question.asked")
@transaction.atomic
def ask_question(
    *, department: Department, submission: Submission, field: str, version: int | None, text: str, by: User
) -> Question:
    """Ask the unit about one value of a filing the department receives, as it saw it in `version`."""
    text, problems = _text(text, "text", required=True)
    area, period = submission.unit.area, Period.parse(submission.period)
    # the one entitlement rule (the data pages and DHIS2 analytics use it too): not received, not asked about;
    # a field of another department's is named in the same words as an unknown one
    found = submission.sheet.fields.filter(code=field).first() if isinstance(field, str) else None
    if found is None or entitling_subscription(entitlements(department), {found.code}, area, period) is None:
        problems.append(_labelled("field", "question.not_received"))
    number = submission.current_version if version is None else version
    if not 1 <= number <= submission.current_version:
        problems.append(_labelled("version", "question.version", {"current": submission.current_version}))
    if problems:
        raise Problems(problems)
    assert found is not None
    seen = SubmissionVersion.objects.of(submission).get(number=number)
    question = Question.objects.create(
        department=department,
        unit=submission.unit,
        submission=submission,
        field=found,
        period=submission.period,
        version_seen=number,
        value_seen=seen.values.get(found.code),
        text=text,
        asked_by=by,
    )
    record(
        action="question.asked",
        target=question,
        actor=by,
        department=department.code,
        field=found.code,
        period=submission.period,
        version=number,
    )
    return question


@audited("question.answered")
@transaction.atomic
def answer_question(*, question: Question, unit: Unit, by: User, value: Any = None, explanation: str = "") -> Question:
    """Answer an open question once: a corrected `value` (a new version of the filing, delivered to every
    subscriber, its `explanation` the correction's reason) or an `explanation` alone."""
    locked = Question.objects.select_for_update().select_related("submission", "field").get(pk=question.pk)
    if locked.unit_id != unit.pk:
        raise Problems([Problem(field="question", rule="question.not_yours")])
    if not locked.is_open:
        raise Problems([Problem(field="question", rule="question.answered")])
    correcting = value is not None and not is_blank(value)
    explanation, problems = _text(explanation, "explanation", required=not correcting)
    if problems:
        raise Problems(problems)
    if correcting:
        locked.answer_version = _correct(locked, value, explanation, by)
        locked.status = QuestionStatus.CORRECTED
    else:
        locked.status = QuestionStatus.EXPLAINED
    locked.answer, locked.answered_by, locked.answered_at = explanation, by, timezone.now()
    locked.save(update_fields=["status", "answer", "answer_version_id", "answer_start", "answered_by", "answered_at"])
    record(
        action="question.answered",
        target=locked,
        actor=by,
        status=locked.status,
        version=locked.answer_version.number if locked.answer_version else None,
    )
    return locked


def _correct(question: Question, value: Any, explanation: str, by: User) -> SubmissionVersion:
    """The filing's current version with the asked field corrected, stored through the one correction service
    (the lock, the field's type and every other rule judge it as they judge any correction)."""
    submission = question.submission
    current = SubmissionVersion.objects.current_of(submission).get()
    code = question.field.code
    try:
        same = question.field.parse(value) == current.values.get(code)
    except Problem:
        same = False  # the correction below names what is wrong with it
    if same:
        raise Problems([_labelled("value", "question.same_value")])
    not_applicable = {k: v for k, v in current.not_applicable.items() if k != code}
    disputes = {k: d["reason"] for k, d in current.disputed.items()}
    try:
        return correct_submission(
            submission=submission,
            raw={**current.values, code: value},
            not_applicable=not_applicable,
            reason=explanation or ANSWER_REASON,
            by=by,
            expected_version=submission.current_version,
            disputes=disputes,
        )
    except Problems as error:  # the answer's one input is `value`: a problem with the asked field is its problem
        raise Problems(
            [_labelled("value", p.rule, p.params) if p.field == code else p for p in error.problems]
        ) from None
