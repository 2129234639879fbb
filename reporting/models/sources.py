"""Sources (一数一源): disputes of register values, and register supplies made in the background."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import Department, Unit


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("Awaiting the source")
    CORRECTED = "corrected", _("Register corrected")
    STANDS = "stands", _("Register value stands")
    WITHDRAWN = "withdrawn", _("Withdrawn by the unit")


class Dispute(models.Model):
    """A unit's "this register value is wrong" (数据异议): its value and reason, answered by the source.

    Raised by the unit's filing (the version that disputes) and answered once by the source department: it
    corrects its register (a new supply version, which reaches the unit and every subscriber) or says why its
    value stands. No deadline, reminder, counter or read receipt is kept on either side (design invariant 5).
    A later filing that disputes the same value again, while the dispute is open, updates it in place; a later
    filing that confirms the register value withdraws it (the unit agreed after all: nothing is left to answer).
    """

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="disputes")
    source = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="disputes")
    field = models.ForeignKey("reporting.Field", on_delete=models.PROTECT, related_name="disputes")
    sheet = models.ForeignKey("reporting.Sheet", on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("period"), max_length=7)
    # the unit's filing that disputes, and the register's supply disputed
    submission = models.ForeignKey("reporting.Submission", on_delete=models.PROTECT, related_name="disputes")
    version = models.ForeignKey(
        "reporting.SubmissionVersion", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    supply = models.ForeignKey("reporting.Submission", on_delete=models.PROTECT, related_name="+")
    supply_version = models.ForeignKey(
        "reporting.SubmissionVersion", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    register_value = models.JSONField(null=True)
    unit_value = models.JSONField(null=True)
    reason = models.TextField(_("reason"))
    status = models.CharField(max_length=10, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    answer = models.TextField(_("answer"), blank=True)
    # the supply version that corrected the register (status corrected), by its whole key (id and partition key,
    # migration 0043): `answer_version`'s join names both, so PostgreSQL looks in that version's year only
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
    created_at = models.DateTimeField(auto_now_add=True)
    # when the source's webhook endpoint accepted the dispute event (None: not yet, or it has no endpoint);
    # the sweep sends the ones still owed, so a receiver down for a weekend still gets every dispute
    notified_at = models.DateTimeField(null=True, blank=True)
    # the event's retries while the receiver refuses it: kept in PostgreSQL like a delivery's (never Redis ETAs)
    notify_attempts = models.PositiveIntegerField(default=0)
    notify_next_at = models.DateTimeField(null=True, blank=True)
    notify_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["supply", "field"], condition=Q(status="open"), name="one_open_dispute_per_value"
            ),
        ]
        indexes = [
            models.Index(fields=["source", "status", "-created_at"], name="dispute_queue"),
            models.Index(fields=["unit", "-created_at"], name="dispute_by_unit"),
            # the events still owed to a source's webhook (few rows: the index stays small)
            models.Index(fields=["source", "notify_next_at"], name="dispute_owed", condition=Q(notified_at=None)),
        ]

    def __str__(self) -> str:
        return f"dispute {self.pk} {self.field_id} {self.period}"

    @property
    def public_id(self) -> str:
        return f"dsp_{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == DisputeStatus.OPEN


class SupplyJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class SupplyJob(models.Model):
    """A register supply too large for one request, imported in the background (DHIS2's `async=true`):
    the body is kept in a file until the import is done; `summary` is the import summary it answered."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="supply_jobs")
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=12)  # json, csv, xlsx, dhis2-json, dhis2-csv, adx
    options = models.JSONField(default=dict)  # atomic, dry_run, strategy, partial…
    file = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=SupplyJobStatus.choices, default=SupplyJobStatus.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    # how many times a worker took the job, counted in the claim's transaction: a worker killed mid-import (out of
    # memory, say) leaves it counted, so the sweep stops sending a job that kills every worker (`SUPPLY_ATTEMPTS`)
    attempts = models.PositiveSmallIntegerField(default=0)
    summary = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"supply job {self.pk} {self.status}"
