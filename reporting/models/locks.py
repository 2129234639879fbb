"""Locked periods lifted by the office (解锁) and questions on a value (数据询问), issue 22."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import Department, Unit


class UnlockReason(models.TextChoices):
    LATE_FIRST = "late_first", _("Late first filing")
    CORRECTION = "correction", _("Correction")
    QUESTION = "question", _("Correction answering a question")
    SUPPLY = "supply", _("Register supply")


class UnlockQuerySet(models.QuerySet["Unlock"]):
    def holding(self, today) -> UnlockQuerySet:
        """The unlocks that still let new versions in on `today`: not past their day, not withdrawn."""
        return self.filter(until__gte=today, withdrawn_at__isnull=True)


class Unlock(models.Model):
    """The office lifting the lock of one sheet's period for one unit (or one source department's register
    supply) until a day, with a reason the unit sees on its pages. The office may withdraw it before that day,
    saying why (the unit sees that too); a ledger's period is the month of its records' dates."""

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="unlocks")
    source = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True, related_name="unlocks")
    sheet = models.ForeignKey("reporting.Sheet", on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("period"), max_length=7)
    reason = models.CharField(_("reason"), max_length=12, choices=UnlockReason.choices)
    note = models.CharField(_("why"), max_length=500)
    until = models.DateField(_("open until"))
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    withdrawn_note = models.CharField(_("why withdrawn"), max_length=500, blank=True)

    objects = UnlockQuerySet.as_manager()

    class Meta:
        verbose_name = _("unlock")
        verbose_name_plural = _("unlocks")
        constraints = [
            models.CheckConstraint(
                condition=Q(unit__isnull=False, source__isnull=True) | Q(unit__isnull=True, source__isnull=False),
                name="unlock_for_a_unit_or_a_source",
            ),
        ]
        indexes = [models.Index(fields=["sheet", "period", "until"], name="unlock_lookup")]

    def __str__(self) -> str:
        return f"unlock {self.sheet_id} {self.period} until {self.until}"


class QuestionStatus(models.TextChoices):
    OPEN = "open", _("Awaiting the unit")
    CORRECTED = "corrected", _("Corrected")
    EXPLAINED = "explained", _("Explained")


class Question(models.Model):
    """A department asking a unit about one value it received (数据询问): answered once by the unit, with a
    correction (a new version, delivered to every subscriber) or an explanation. Every department that receives
    the field sees it. Nothing records when anyone opened it (no read receipts, design invariant 5)."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="questions")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="questions")
    submission = models.ForeignKey("reporting.Submission", on_delete=models.PROTECT, related_name="questions")
    field = models.ForeignKey("reporting.Field", on_delete=models.PROTECT, related_name="questions")
    period = models.CharField(_("period"), max_length=7)
    version_seen = models.PositiveIntegerField(_("version seen"))
    value_seen = models.JSONField(null=True)
    text = models.TextField(_("question"))
    asked_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    asked_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=QuestionStatus.choices, default=QuestionStatus.OPEN)
    answer = models.TextField(_("answer"), blank=True)
    # The correction that answered it, by the version's whole key (id and partition key, migration 0043): read
    # through `answer_version`, whose join names both, so PostgreSQL looks in that version's year only.
    answer_version_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    answer_start = models.DateField(null=True, blank=True, editable=False)
    answer_version = models.ForeignObject(
        "reporting.SubmissionVersion",
        on_delete=models.PROTECT,
        from_fields=["answer_version_id", "answer_start"],
        to_fields=["id", "period_start"],
        null=True,
        blank=True,
        related_name="+",
    )
    answered_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        indexes = [
            models.Index(fields=["unit", "status"], name="question_by_unit"),
            models.Index(fields=["field", "period"], name="question_by_field"),
        ]

    def __str__(self) -> str:
        return f"question {self.pk} {self.field_id} {self.period}"

    @property
    def public_id(self) -> str:
        return f"qst_{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == QuestionStatus.OPEN
