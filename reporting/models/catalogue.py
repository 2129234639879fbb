"""The catalogue: sheets, fields and their revisions, the calendar, notices, zombies and closures."""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from core.models import AreaLevel, Department, Office
from reporting.catalogue import fieldtypes
from reporting.catalogue.periods import PeriodType
from reporting.rejections import Problem

CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class Cadence(models.TextChoices):
    MONTHLY = PeriodType.MONTHLY.value, _("Monthly")
    QUARTERLY = PeriodType.QUARTERLY.value, _("Quarterly")
    YEARLY = PeriodType.YEARLY.value, _("Yearly")
    LEDGER = "ledger", _("Ledger (dated records)")


class Status(models.TextChoices):
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")


class Bilingual(models.Model):
    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name_zh} ({getattr(self, 'code', '')})"

    @property
    def name(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name_zh


def validate_code(value: str) -> None:
    if not CODE.match(value or ""):
        raise ValidationError(Problem(field="code", rule="definition.code").message)


class Sheet(Bilingual):
    """A group of fields with one cadence: periodic (one row per unit and period) or a ledger."""

    # not columns: the catalogue generation `onetable.active_sheet` read this copy at, and the snapshot it read
    # it in (the relay delivers a filing to the subscriptions in force in that snapshot)
    read_at_generation: int | None = None
    read_at_snapshot: str = ""
    code = models.CharField(_("code"), max_length=40, unique=True, validators=[validate_code])
    topic_zh = models.CharField(_("topic (Chinese)"), max_length=60)
    topic_en = models.CharField(_("topic (English)"), max_length=60)
    description = models.TextField(_("description"), blank=True)
    cadence = models.CharField(_("cadence"), max_length=10, choices=Cadence.choices)
    # Which kinds of reporting unit fill this sheet (township governments, village committees…).
    unit_levels = ArrayField(models.CharField(max_length=10, choices=AreaLevel.choices), verbose_name=_("unit levels"))
    owner = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="sheets")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    order = models.PositiveIntegerField(_("order"), default=0)
    # Ledger sheets: the code of the date field that says when a record happened.
    record_date_field = models.CharField(_("record date field"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("sheet")
        verbose_name_plural = _("sheets")
        ordering = ["order", "code"]

    @property
    def topic(self) -> str:
        return self.topic_en if (get_language() or "").startswith("en") else self.topic_zh

    @property
    def is_ledger(self) -> bool:
        return self.cadence == Cadence.LEDGER

    @property
    def period_type(self) -> PeriodType:
        """Ledger records are counted by the month they happened in."""
        return PeriodType.MONTHLY if self.is_ledger else PeriodType(self.cadence)

    def clean(self) -> None:
        bad = [level for level in self.unit_levels or [] if level not in AreaLevel.values]
        if not self.unit_levels or bad:
            raise ValidationError({"unit_levels": "须至少选择一个有效的层级 / choose at least one valid level"})
        if self.is_ledger and not self.record_date_field:
            raise ValidationError({"record_date_field": "台账须指定记录日期字段 / a ledger needs a record date field"})


class Aggregation(models.TextChoices):
    """How a field's values roll up over the units inside an area (`reporting.reads.rollups`)."""

    SUM = "sum", _("Sum")
    MEAN = "mean", _("Mean")
    MIN = "min", _("Minimum")
    MAX = "max", _("Maximum")
    COUNT_YES = "count_yes", _("Units that said yes")
    NONE = "none", _("Not rolled up")


class FieldQuerySet(models.QuerySet["Field"]):
    def active(self) -> FieldQuerySet:
        return self.filter(status=Status.ACTIVE, sheet__status=Status.ACTIVE)

    def asked_on(self, day: dt.date | None = None) -> FieldQuerySet:
        """Fields a subscription claiming them asks on `day` (None: on some day): not retired by then."""
        # Part of the covering rule (see `SubscriptionQuerySet`); its twin for rows in memory: `field_asked_on`.
        if day is None:
            return self.filter(Q(status=Status.ACTIVE) | Q(retired_from__isnull=False))
        return self.filter(Q(status=Status.ACTIVE, retired_from__isnull=True) | Q(retired_from__gt=day))


class Field(Bilingual):
    """One shared data element of the catalogue."""

    sheet = models.ForeignKey(Sheet, on_delete=models.PROTECT, related_name="fields")
    code = models.CharField(_("code"), max_length=40, unique=True, validators=[validate_code])
    description = models.TextField(_("description"), max_length=1000, blank=True)
    unit_of_measure = models.CharField(_("unit of measure"), max_length=20, blank=True)
    type = models.CharField(_("type"), max_length=20, choices=fieldtypes.TYPE_CHOICES)
    constraints = models.JSONField(_("constraints"), default=dict, blank=True)
    # A stable fact (population, venues…) is carried forward and confirmed, not retyped.
    stable = models.BooleanField(_("stable fact"), default=False)
    allow_na = models.BooleanField(_("may be answered “not applicable”"), default=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    order = models.PositiveIntegerField(_("order"), default=0)
    # A retired field is still asked for periods that start before this day, and never after.
    retired_from = models.DateField(_("retired from"), null=True, blank=True)
    # The one department whose register supplies this field's values (一数一源); None: units file it.
    source = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sourced_fields",
        verbose_name=_("source department"),
    )

    # How its values roll up along the area tree; its type's default (`FieldType.aggregations[0]`) unless the
    # office chose another its type allows.
    aggregation = models.CharField(_("aggregation"), max_length=10, choices=Aggregation.choices, blank=True)
    # A derived roll-up field (a township's figure that is the roll-up of a village field of the same period
    # type): never asked of its units (the one table skips it), answered by the roll-up engine.
    rollup_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rolled_up_as",
        verbose_name=_("roll-up of"),
    )

    objects = FieldQuerySet.as_manager()

    class Meta:
        verbose_name = _("field")
        verbose_name_plural = _("fields")
        ordering = ["sheet__order", "order", "code"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.aggregation:
            self.aggregation = self.field_type.aggregations[0]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        problems = fieldtypes.check_definition(self.type, self.constraints)
        if problems:
            raise ValidationError({p.field: p.message for p in problems})

    @property
    def rolls_up(self) -> str:
        """Its aggregation, or its type's default when none was stored yet."""
        return self.aggregation or self.field_type.aggregations[0]

    @property
    def aggregation_options(self) -> list[tuple[str, str]]:
        """The aggregations its type allows, with their labels (the office's choice)."""
        labels = dict(Aggregation.choices)
        return [(value, str(labels[value])) for value in self.field_type.aggregations]

    @property
    def aggregation_label(self) -> str:
        return str(dict(Aggregation.choices)[self.rolls_up])

    @property
    def rules(self) -> list[str]:
        """The definition's rules in words (the catalogue shows these, not the JSON)."""
        return fieldtypes.describe(self.type, self.constraints)

    @property
    def definition(self) -> str:
        """Type, unit and rules in one line, as a proposed field's is shown beside it for review."""
        return fieldtypes.definition(self.type, self.constraints, self.unit_of_measure)

    @property
    def field_type(self) -> fieldtypes.FieldType:
        return fieldtypes.get(self.type)

    @property
    def unit_label(self) -> str:
        """The unit of measure in the active language ("" when English needs none)."""
        return fieldtypes.unit_label(self.unit_of_measure)

    @property
    def in_force(self) -> Field:
        """The field as defined today: the row holds the newest definition, which may apply from a later period
        (reads `revisions`, prefetched where many fields are shown)."""
        today = timezone.localdate()
        past = [r for r in self.revisions.all() if r.effective_from <= today]
        return max(past, key=lambda r: r.effective_from).apply_to(copy.copy(self)) if past else self

    @property
    def scheduled(self) -> list[FieldRevision]:
        """The field's revisions from periods that begin after today, the soonest first."""
        today = timezone.localdate()
        return sorted((r for r in self.revisions.all() if r.effective_from > today), key=lambda r: r.effective_from)

    @property
    def required(self) -> bool:
        return bool(self.constraints.get("required"))

    def parse(self, raw: Any) -> Any:
        """Parse one raw value under this field's definition; Problems are labelled with the field's names."""
        try:
            return fieldtypes.parse_value(self.type, self.constraints, raw, field=self.code)
        except Problem as problem:
            raise problem.labelled(self.name_zh, self.name_en) from None


class IndicatorRollup(models.TextChoices):
    RATIO_OF_SUMS = "ratio_of_sums", _("Ratio of the sums (numerator and denominator summed separately)")
    SUM = "sum", _("Sum")
    MEAN = "mean", _("Mean of the units")
    AREA = "area", _("By its formula over the units (an area-level indicator)")


class Indicator(Bilingual):
    """A formula over fields and ledger records (or over the units of an area), catalogued like a field.

    `formula` is the text the office wrote; `tree` is its syntax tree (reporting/catalogue/expressions.py), the
    definition that is evaluated on the server and in the browser. Its code is unique across fields and
    indicators (`services/indicators.py` checks the fields).
    """

    code = models.CharField(_("code"), max_length=40, unique=True, validators=[validate_code])
    description = models.TextField(_("description"), max_length=1000, blank=True)
    unit_of_measure = models.CharField(_("unit of measure"), max_length=20, blank=True)
    formula = models.TextField(_("formula"))
    tree = models.JSONField(_("syntax tree"))
    rollup = models.CharField(_("roll-up"), max_length=16, choices=IndicatorRollup.choices)
    # The cadence of the fields it uses ("" when it uses ledgers only: any period).
    period_type = models.CharField(_("period type"), max_length=10, blank=True)
    owner = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="indicators")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    retired_from = models.DateField(_("retired from"), null=True, blank=True)
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("indicator")
        verbose_name_plural = _("indicators")
        ordering = ["order", "code"]


class IndicatorRevision(models.Model):
    """One definition of an indicator and the day it applies from (like `FieldRevision`)."""

    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="revisions")
    effective_from = models.DateField()
    period = models.CharField(max_length=7, blank=True)
    name_zh = models.CharField(max_length=120)
    name_en = models.CharField(max_length=120)
    unit_of_measure = models.CharField(max_length=20, blank=True)
    formula = models.TextField()
    tree = models.JSONField()
    rollup = models.CharField(max_length=16, choices=IndicatorRollup.choices)
    reason = models.TextField(blank=True)
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    DEFINITION = ("name_zh", "name_en", "unit_of_measure", "formula", "tree", "rollup")

    class Meta:
        ordering = ["indicator", "effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["indicator", "effective_from"], name="one_indicator_revision_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.indicator_id} from {self.effective_from}"

    @property
    def name(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name_zh


class DueRule(models.Model):
    """The office's one calendar: for a cadence, the due date is N days after the period ends."""

    cadence = models.CharField(_("cadence"), max_length=10, choices=Cadence.choices, unique=True)
    days_after_period_end = models.PositiveIntegerField(_("days after the period ends"))
    # issue 22: a period opens `lead_days` before it begins, and locks `lock_days_after_due` days after its due
    # date (None: it never locks); after the lock a new version needs the office's unlock (`Unlock`)
    lead_days = models.PositiveIntegerField(_("days open before the period begins"), default=0)
    lock_days_after_due = models.PositiveIntegerField(_("days after the due date it locks"), null=True, blank=True)

    class Meta:
        verbose_name = _("due-date rule")
        verbose_name_plural = _("due-date rules")

    def __str__(self) -> str:
        return f"{self.cadence}: +{self.days_after_period_end}"


class DueException(models.Model):
    """A due date the office set for one sheet and period instead of the rule (e.g. holidays)."""

    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="due_exceptions")
    period = models.CharField(_("period"), max_length=7)
    due_on = models.DateField(_("due on"))
    reason = models.CharField(_("reason"), max_length=200)

    class Meta:
        verbose_name = _("due-date exception")
        verbose_name_plural = _("due-date exceptions")
        constraints = [models.UniqueConstraint(fields=["sheet", "period"], name="one_due_exception_per_period")]

    def __str__(self) -> str:
        return f"{self.sheet.code} {self.period}: {self.due_on}"


class FieldRevision(models.Model):
    """One definition of a field and the day it applies from; submissions keep the one of their period."""

    field = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="revisions")
    effective_from = models.DateField()
    period = models.CharField(max_length=7, blank=True)  # as the office named it; blank for the original
    name_zh = models.CharField(max_length=120)
    name_en = models.CharField(max_length=120)
    type = models.CharField(max_length=20, choices=fieldtypes.TYPE_CHOICES)
    constraints = models.JSONField(default=dict)
    unit_of_measure = models.CharField(max_length=20, blank=True)
    allow_na = models.BooleanField(default=True)
    reason = models.TextField(blank=True)
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["field", "effective_from"]
        constraints = [models.UniqueConstraint(fields=["field", "effective_from"], name="one_revision_per_day")]

    def __str__(self) -> str:
        return f"{self.field_id} from {self.effective_from}"

    @property
    def rules(self) -> list[str]:
        return fieldtypes.describe(self.type, self.constraints)

    DEFINITION = ("name_zh", "name_en", "type", "constraints", "unit_of_measure", "allow_na")

    def apply_to(self, target: Field) -> Field:
        for name in self.DEFINITION:
            setattr(target, name, getattr(self, name))
        return target


class Notice(models.Model):
    """A message from the office or a rule to a department (no read receipts are kept)."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="notices")
    text_zh = models.TextField()
    text_en = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return self.text_zh[:40]


class ZombieKind(models.TextChoices):
    IDLE_SUBSCRIPTION = "idle_subscription", _("Subscription nobody uses")
    EXPIRED_SUBSCRIPTION = "expired_subscription", _("Expired subscription")
    UNUSED_FIELD = "unused_field", _("Field no subscription uses")
    EMPTY_SHEET = "empty_sheet", _("Sheet with no field left")


class ZombieFlag(models.Model):
    """Something the daily check found unused (僵尸); subscriptions end after a grace period unless confirmed."""

    kind = models.CharField(max_length=24, choices=ZombieKind.choices)
    subscription = models.ForeignKey(
        "reporting.Subscription", on_delete=models.CASCADE, null=True, blank=True, related_name="zombie_flags"
    )
    field = models.ForeignKey(Field, on_delete=models.CASCADE, null=True, blank=True, related_name="zombie_flags")
    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, null=True, blank=True, related_name="zombie_flags")
    reason = models.TextField()
    flagged_on = models.DateField()
    grace_until = models.DateField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    confirm_reason = models.TextField(max_length=300, blank=True)
    closed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-flagged_on", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.flagged_on}"

    @property
    def open(self) -> bool:
        return self.closed_on is None


class ClosureLog(models.Model):
    """The public log of everything ended: what, why, when, by whom or by which rule."""

    kind = models.CharField(max_length=20)  # subscription, field, sheet
    object_id = models.PositiveIntegerField()
    label = models.CharField(max_length=300)
    reason = models.TextField()
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    rule = models.CharField(max_length=60, blank=True)  # set when a rule, not a person, ended it
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.label}"


class CatalogueGeneration(models.Model):
    """One row whose value changes whenever the catalogue or a subscription changes.

    Database triggers (migration 0012) set it from a sequence on every statement that
    writes sheets, fields, revisions, subscriptions, their fields or departments (and
    rules and plausibility settings, 0030; due-date rules and exceptions, 0036), so
    even bulk updates count. Per-process caches of what the one table needs key on the
    value: a filing reads one small row instead of the sheet's claims and definitions.
    The value is never reused (the sequence belongs to no table, so no flush resets it).
    """

    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"catalogue generation {self.value}"
