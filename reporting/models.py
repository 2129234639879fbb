"""The catalogue (Sheet, Field); later issues add subscriptions, submissions and deliveries."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from core.models import AreaLevel, Office
from reporting import fieldtypes
from reporting.errors import Problem
from reporting.periods import PeriodType

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


class FieldQuerySet(models.QuerySet["Field"]):
    def active(self) -> FieldQuerySet:
        return self.filter(status=Status.ACTIVE, sheet__status=Status.ACTIVE)


class Field(Bilingual):
    """One shared data element of the catalogue."""

    sheet = models.ForeignKey(Sheet, on_delete=models.PROTECT, related_name="fields")
    code = models.CharField(_("code"), max_length=40, unique=True, validators=[validate_code])
    description = models.TextField(_("description"), blank=True)
    unit_of_measure = models.CharField(_("unit of measure"), max_length=20, blank=True)
    type = models.CharField(_("type"), max_length=20, choices=fieldtypes.TYPE_CHOICES)
    constraints = models.JSONField(_("constraints"), default=dict, blank=True)
    # A stable fact (population, venues…) is carried forward and confirmed, not retyped.
    stable = models.BooleanField(_("stable fact"), default=False)
    allow_na = models.BooleanField(_("may be answered “not applicable”"), default=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    order = models.PositiveIntegerField(_("order"), default=0)

    objects = FieldQuerySet.as_manager()

    class Meta:
        verbose_name = _("field")
        verbose_name_plural = _("fields")
        ordering = ["sheet__order", "order", "code"]

    def clean(self) -> None:
        problems = fieldtypes.check_definition(self.type, self.constraints)
        if problems:
            raise ValidationError({p.field: p.message for p in problems})

    @property
    def field_type(self) -> fieldtypes.FieldType:
        return fieldtypes.get(self.type)

    @property
    def required(self) -> bool:
        return bool(self.constraints.get("required"))

    def parse(self, raw: Any) -> Any:
        """Parse one raw value under this field's definition; Problems are labelled with the field's names."""
        try:
            return fieldtypes.parse_value(self.type, self.constraints, raw, field=self.code)
        except Problem as problem:
            raise problem.labelled(self.name_zh, self.name_en) from None
