"""Reads: access records (who received or read what) and export jobs."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Department, Unit


class AccessKind(models.TextChoices):
    PUSHED = "pushed", _("Pushed by webhook")
    PULLED = "pulled", _("Read from the feed")
    QUERIED = "queried", _("Queried or exported")
    CHARTED = "charted", _("Summed in a chart")
    AGGREGATED = "aggregated", _("Counted in an aggregate")


class AccessRecord(models.Model):
    """Who received or read which unit's data, when, under which subscription: visible to that unit.

    PostgreSQL refuses to change one, or to delete one outside the schema owner's maintenance (retention).
    The table is partitioned by month of `at` (migration 0034, reporting/partitions.py): retention detaches
    whole months (`manage.py detach_access_records`); the primary key in the database is (id, at).
    """

    # Written for every delivery pushed or read and every exported row: the unit's and the department's
    # histories are the composite indexes below; sheets are retired, never deleted, so `sheet` needs none.
    # An append-only log written by PostgreSQL's own joins (COPY, INSERT … SELECT), so it carries no
    # foreign-key constraints: checking them at commit cost twice the insert itself (docs/benchmarks.md,
    # fourth round). Deleting what a record names is still refused
    # (PROTECT, by Django), and units, departments, subscriptions and sheets are retired, never deleted.
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="access_records", db_index=False, db_constraint=False
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="access_records", db_index=False, db_constraint=False
    )
    subscription = models.ForeignKey(
        "reporting.Subscription",
        on_delete=models.PROTECT,
        related_name="access_records",
        db_index=False,
        db_constraint=False,
    )
    delivery = models.ForeignKey(
        "reporting.Delivery", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    sheet = models.ForeignKey(
        "reporting.Sheet", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    period = models.CharField(max_length=7)
    # A chart's record covers all the periods of the unit's filings it summed: from `period_from` to
    # `period` (one record per unit and view, not one per filing: a province-wide chart over two years
    # summed 481,100 filings of 20,000 units). Empty for a record about one period.
    period_from = models.CharField(max_length=7, blank=True, db_default="")
    fields = ArrayField(models.CharField(max_length=40))
    kind = models.CharField(max_length=10, choices=AccessKind.choices)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("access record")
        verbose_name_plural = _("access records")
        indexes = [
            models.Index(fields=["unit", "-at"]),
            models.Index(fields=["department", "-at"]),
            # a subscription's last use of each kind is one probe (the office's catalogue, the zombie check)
            models.Index(fields=["subscription", "kind", "-at"], name="access_by_subscription"),
        ]
        # One aggregated record per department, unit, period and fields cannot be a unique index (PostgreSQL
        # wants the partition key `at` in it): `reads.rollups.record_used` keeps it under an advisory lock.

    def __str__(self) -> str:
        return f"{self.department_id} {self.kind} {self.unit_id} {self.periods}"

    @property
    def periods(self) -> str:
        """The period, or the range of periods, the record is about."""
        return f"{self.period_from}–{self.period}" if self.period_from else self.period


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    """A large export made in the background; the department downloads it when it is done."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="exports")
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    params = models.JSONField()  # sheet, fields, period_from, period_to, area
    format = models.CharField(max_length=4, choices=[("csv", "CSV"), ("xlsx", "XLSX")])
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    # how many times a worker took the job, counted in the claim's transaction (`reporting.jobs`)
    attempts = models.PositiveSmallIntegerField(default=0)
    file = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.pk} {self.format} {self.status}"

    @property
    def percent(self) -> int:
        return 100 if self.status == ExportStatus.DONE else int(100 * self.rows_done / max(1, self.rows_total))


class SuppressionThreshold(models.Model):
    """The office's threshold for publishing an aggregate (`reads.rollups`), from a day on: the periods that begin
    on or after `effective_from` use `units`; earlier ones keep the threshold they began with (none set: the
    `ONETABLE_MIN_CELL` setting), so one period's cells are never decided under two thresholds."""

    units = models.PositiveIntegerField(_("minimum units"))
    effective_from = models.DateField(_("effective from"), unique=True)
    reason = models.CharField(_("reason"), max_length=200)
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("suppression threshold")
        verbose_name_plural = _("suppression thresholds")
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return f"{self.units} from {self.effective_from}"
