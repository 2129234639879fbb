"""Filing: submissions, their immutable versions, drafts, idempotency keys."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import Department, Unit
from reporting.catalogue.periods import Period


class SubmissionQuerySet(models.QuerySet["Submission"]):
    def by_units(self) -> SubmissionQuerySet:
        """What units filed themselves (their one table, their ledgers)."""
        return self.filter(source__isnull=True)

    def supplies(self) -> SubmissionQuerySet:
        """What source departments supplied from their registers."""
        return self.filter(source__isnull=False)


class Submission(models.Model):
    """A filing of one sheet for one unit and period, or one ledger record; its content lives in versions.

    Its filer is the unit itself (`source` is None) or the department that is the source of the fields it
    carries (a register supply, 一数一源): the two never share a row, so a supply never touches the unit's own
    submission, its drafts or its `If-Match` versions.
    """

    # no index of its own: (unit, sheet, -period) below leads with it and serves every look-up by unit
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="submissions", db_index=False)
    # The source department whose register supplied it; None: the unit filed it.
    source = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="supplies", db_index=False
    )
    sheet = models.ForeignKey("reporting.Sheet", on_delete=models.PROTECT, related_name="submissions")
    period = models.CharField(_("period"), max_length=7)
    # Ledger records only: which record, and the day it happened (its period is that day's month).
    record_key = models.UUIDField(null=True, blank=True, unique=True)
    record_date = models.DateField(null=True, blank=True)
    # The day subscriptions are checked against: the period's first day, or a ledger record's date.
    period_start = models.DateField(db_index=True)
    # A ledger record's earlier days that are another version's partition key: a correction that moved the record
    # files its new version under the new day and leaves the older ones where they were (None: every version is
    # under `period_start`, as a periodic filing's always are). `SubmissionVersion.objects.of` reads those only.
    earlier_starts = ArrayField(models.DateField(), null=True, blank=True, editable=False)
    current_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "sheet", "period"],
                condition=Q(record_key__isnull=True, source__isnull=True),
                name="one_submission_per_unit_sheet_period",
            ),
            models.UniqueConstraint(
                fields=["unit", "sheet", "period", "source"],
                condition=Q(record_key__isnull=True, source__isnull=False),
                name="one_supply_per_unit_sheet_period",
            ),
        ]
        indexes = [
            models.Index(fields=["unit", "sheet", "-period"]),
            # not on `updated_at`: a correction sets it, and an indexed column changed makes every index take the
            # row again (no HOT update; 0.25 s of a province's register supply, docs/benchmarks.md, issue 19)
            models.Index(fields=["source"], name="supply_by_source", condition=Q(source__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.unit} {self.sheet.code} {self.period} v{self.current_version}"

    @property
    def is_corrected(self) -> bool:
        return self.current_version > 1

    @property
    def version_starts(self) -> list:
        """Every partition key its versions carry: its `period_start`, and a moved ledger record's earlier days."""
        return [self.period_start, *(self.earlier_starts or [])]

    @property
    def period_label(self) -> str:
        return Period.parse(self.period).label()


class SubmissionVersionQuerySet(models.QuerySet["SubmissionVersion"]):
    def current(self) -> SubmissionVersionQuerySet:
        """Each submission's current version; naming the key lets PostgreSQL probe each year's partition by it."""
        return self.filter(number=F("submission__current_version"), period_start=F("submission__period_start"))

    def of(self, submission: Submission) -> SubmissionVersionQuerySet:
        """The submission's versions, looked for in the partitions of their keys only: a periodic one's all carry
        its period's first day (the period never changes); a ledger record's carry its current date and the
        earlier ones a correction moved it from (`earlier_starts`)."""
        return self.filter(submission=submission, period_start__in=submission.version_starts)

    def current_of_each(self, submissions: list[Submission]) -> SubmissionVersionQuerySet:
        """The current versions of these submissions, looked for in the partitions of their keys only (a list
        picked from the submissions first: the newest of a unit's, a page of a ledger)."""
        return self.current().filter(
            submission__in=[s.pk for s in submissions], period_start__in={s.period_start for s in submissions}
        )

    def current_of(self, submission: Submission) -> SubmissionVersionQuerySet:
        """The submission's current version, looked for in its period's partition only."""
        return self.filter(
            submission=submission, number=submission.current_version, period_start=submission.period_start
        )


class SubmissionVersion(models.Model):
    """One immutable version of a submission: the values as filed, and what filing them saved.

    PostgreSQL refuses to change or delete a version (migration `reporting.0017_append_only`): a correction is
    a new version. State that later work needs about a version (e.g. which ones a relay has handled) lives in
    tables of its own, never in these rows.

    The table is partitioned by year of `period_start` (migration 0036, reporting/partitions.py): its key is
    (id, period_start), so the foreign keys that point at a version keep no database constraint; a version is
    never deleted, which is what such a constraint would have guarded.
    """

    # no index of its own: `one_version_number` (submission, number, period_start) leads with it
    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="versions", db_index=False)
    number = models.PositiveIntegerField()
    # {field code: canonical JSON value}; "not applicable" answers live in `not_applicable`.
    values = models.JSONField(default=dict)
    not_applicable = models.JSONField(default=dict)  # {field code: reason}
    carried = ArrayField(models.CharField(max_length=40), default=list)  # stable facts confirmed unchanged
    # A unit's answers to register values (fields with a source): confirmed as supplied, or disputed
    # ({code: {"reason": why, "register": the value disputed}}, the unit's own value in `values`); `gaps` are
    # values the unit typed because the register had none. A supply's version uses none of the three: every
    # value it holds came from the register.
    confirmed = ArrayField(models.CharField(max_length=40), default=list)
    disputed = models.JSONField(default=dict)
    gaps = ArrayField(models.CharField(max_length=40), default=list)
    reason = models.TextField(max_length=300, blank=True)  # why it was corrected (versions after the first)
    # The warnings filing this version raised (a validation rule, or a value implausible for the unit) and the
    # unit's explanation of each ("" where none was given yet, through the API or DHIS2):
    # {"rule:<code>" | "plausibility:<field>": {"kind", "fields": [codes], "text"}}; delivered with the values
    # of those fields.
    explanations = models.JSONField(default=dict)
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    # The partition key: the submission's `period_start` when this version was filed (a ledger record's date may
    # move with a correction; each version keeps its own). The current version's always equals the submission's,
    # so a read of current values joins on it and PostgreSQL looks in one year's partition only.
    period_start = models.DateField(editable=False)
    # What filing this version saved the unit (burden figures).
    asked_count = models.PositiveIntegerField(default=0)  # fields in the one table when it was filed
    typed_count = models.PositiveIntegerField(default=0)
    carried_count = models.PositiveIntegerField(default=0)
    na_count = models.PositiveIntegerField(default=0)
    confirmed_count = models.PositiveIntegerField(default=0)  # register values confirmed, not typed
    disputed_count = models.PositiveIntegerField(default=0)
    department_count = models.PositiveIntegerField(default=0)
    refills_spared = models.PositiveIntegerField(default=0)

    objects = SubmissionVersionQuerySet.as_manager()

    class Meta:
        verbose_name = _("submission version")
        verbose_name_plural = _("submission versions")
        ordering = ["submission", "number"]
        # the partition key must be in every unique constraint; numbers are given under the submission's row lock
        # (current_version + 1), so (submission, number) stays unique even where a ledger record changed its year
        constraints = [
            models.UniqueConstraint(fields=["submission", "number", "period_start"], name="one_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.submission_id} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.period_start is None:  # the filing's paths set it; this covers a version made by hand
            self.period_start = self.submission.period_start
        super().save(*args, **kwargs)


class Draft(models.Model):
    """A cadre's unsent work on one sheet and period; never delivered, overwritten on save."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="drafts")
    sheet = models.ForeignKey("reporting.Sheet", on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=7)
    raw = models.JSONField(default=dict)  # what was typed, as typed (may not be valid yet)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["unit", "sheet", "period"], name="one_draft_per_period")]

    def __str__(self) -> str:
        return f"draft {self.unit_id} {self.sheet_id} {self.period}"


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key: the request it named and, once done, the answer it got."""

    user = models.ForeignKey("core.User", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    done = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]

    def __str__(self) -> str:
        return self.key
