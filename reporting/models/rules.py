"""Validation rules across the fields of one sheet and period, and the office's plausibility settings."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from core.models import Office


class RuleOperator(models.TextChoices):
    EQUAL = "==", "=="
    NOT_EQUAL = "!=", "!="
    LESS = "<", "<"
    LESS_OR_EQUAL = "<=", "<="
    GREATER = ">", ">"
    GREATER_OR_EQUAL = ">=", ">="
    # "if the left side holds, the right side's field is required" (DHIS2: compulsory_pair)
    COMPULSORY_PAIR = "compulsory_pair", _("if … then … is required")


class MissingValueStrategy(models.TextChoices):
    """DHIS2's names: when a rule whose fields are (partly) missing is checked at all."""

    SKIP_IF_ANY_VALUE_MISSING = "SKIP_IF_ANY_VALUE_MISSING", _("Skip if any value is missing")
    SKIP_IF_ALL_VALUES_MISSING = "SKIP_IF_ALL_VALUES_MISSING", _("Skip if all values are missing")
    NEVER_SKIP = "NEVER_SKIP", _("Never skip (a missing number counts as 0)")


class Importance(models.TextChoices):
    ERROR = "error", _("Error: blocks submitting")
    WARNING = "warning", _("Warning: asks for an explanation")


class ValidationRule(models.Model):
    """A check across fields of one sheet and period, written in the expression language.

    `left_tree` and `right_tree` are the sides' syntax trees (reporting/catalogue/expressions.py); `definition()`
    is the data the server and the browser evaluate (reporting/catalogue/rules.py, static/js/rules.js)."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    sheet = models.ForeignKey("reporting.Sheet", on_delete=models.PROTECT, related_name="rules")
    left = models.TextField(_("left side"))
    operator = models.CharField(_("operator"), max_length=16, choices=RuleOperator.choices)
    right = models.TextField(_("right side"))
    left_tree = models.JSONField()
    right_tree = models.JSONField()
    strategy = models.CharField(
        _("missing values"), max_length=32, choices=MissingValueStrategy.choices, default="NEVER_SKIP"
    )
    importance = models.CharField(_("importance"), max_length=8, choices=Importance.choices)
    message_zh = models.CharField(_("message (Chinese)"), max_length=200)
    message_en = models.CharField(_("message (English)"), max_length=200)
    fields = ArrayField(models.CharField(max_length=40), default=list)  # every field code either side names
    numbers = ArrayField(models.CharField(max_length=40), default=list)  # those of them that are numbers
    owner = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="rules")
    request = models.ForeignKey(
        "reporting.DataRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="created_rules"
    )
    status = models.CharField(_("status"), max_length=10, default="active")
    retired_from = models.DateField(_("retired from"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    DEFINITION = ("left", "operator", "right", "left_tree", "right_tree", "strategy", "importance")

    class Meta:
        verbose_name = _("validation rule")
        verbose_name_plural = _("validation rules")
        ordering = ["sheet", "code"]

    def __str__(self) -> str:
        return self.code

    @property
    def message(self) -> str:
        return self.message_en if (get_language() or "").startswith("en") else self.message_zh

    def definition(self) -> dict:
        """The rule as data: what both evaluators take, and what the form ships to the browser."""
        return {
            "code": self.code,
            "left": self.left_tree,
            "operator": self.operator,
            "right": self.right_tree,
            "strategy": self.strategy,
            "importance": self.importance,
            "fields": list(self.fields),
            "numbers": list(self.numbers),
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


class ValidationRuleRevision(models.Model):
    """One definition of a rule and when it was made (its history, like `FieldRevision`)."""

    rule = models.ForeignKey(ValidationRule, on_delete=models.CASCADE, related_name="revisions")
    effective_from = models.DateField()
    left = models.TextField()
    operator = models.CharField(max_length=16)
    right = models.TextField()
    strategy = models.CharField(max_length=32)
    importance = models.CharField(max_length=8)
    message_zh = models.CharField(max_length=200)
    message_en = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rule", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.rule_id} from {self.effective_from}"


DEFAULT_THRESHOLD = Decimal("3.5")


class Plausibility(models.Model):
    """The office's plausibility check (one row): a value's modified z-score against the unit's own last 12
    periods above `threshold` asks for confirmation; `enabled` off, only the expected ranges of fields ask."""

    threshold = models.DecimalField(_("threshold"), max_digits=4, decimal_places=1, default=DEFAULT_THRESHOLD)
    enabled = models.BooleanField(_("compare with the unit's own history"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"plausibility {self.threshold}"


class ExpectedRange(models.Model):
    """The range the office expects a numeric field's values in; outside it is a warning, never a refusal."""

    field = models.OneToOneField("reporting.Field", on_delete=models.CASCADE, related_name="expected_range")
    low = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    high = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.field_id}: {self.low}..{self.high}"


class PlausibilityBaseline(models.Model):
    """A unit's own recent history of one periodic sheet, kept on write for the plausibility check (one row per
    unit and sheet; `reporting.filing.baselines` writes and reads it, and rebuilds it from the versions): the
    newest HISTORY + 1 periods it filed, each field's values in them, and each field's summary over the newest
    HISTORY, which is the baseline of any later period. JSON kept as text: never looked into by SQL, and text is
    stored and handed back as it is, where jsonb would parse it on each write and print it on each read."""

    unit = models.ForeignKey("core.Unit", on_delete=models.CASCADE, related_name="+")
    sheet = models.ForeignKey("reporting.Sheet", on_delete=models.CASCADE, related_name="+")
    periods = ArrayField(models.CharField(max_length=16), default=list)  # newest first
    # {field code: [its value in each of `periods`, None where it had no number]}; fields with none left out
    kept = models.TextField(default="{}")
    # {field code: [count, median, MAD, [the last values, newest first]]} over the newest HISTORY periods
    summaries = models.TextField(default="{}")
    # {field code: [median, MAD]} of the fields whose history can call a number usual: what the check parses whole
    spreads = models.TextField(default="{}")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["unit", "sheet"], name="one_baseline_per_unit_sheet")]

    def __str__(self) -> str:
        return f"baseline {self.unit_id}/{self.sheet_id}"


class BaselinePending(models.Model):
    """A filed period not yet folded into its unit's `PlausibilityBaseline` (the baseline's outbox event): the
    filing's transaction inserts it beside the version, the relay task folds the pending periods into the rows
    and deletes them in one transaction (`reporting.filing.baselines.fold_baselines`). While one exists for a
    unit and sheet, the check reads that unit's versions instead of the row, so the hint is exact at any moment."""

    id = models.BigAutoField(primary_key=True)
    # no index on each: the read asks (unit, sheet), the fold claims by id
    unit = models.ForeignKey("core.Unit", on_delete=models.CASCADE, related_name="+", db_index=False)
    sheet = models.ForeignKey("reporting.Sheet", on_delete=models.CASCADE, related_name="+", db_index=False)
    period = models.CharField(max_length=16)
    # the version filed (the fold takes the period's current one: a correction folded late is folded as it is now)
    version_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["unit", "sheet"], name="baseline_pending_unit_sheet")]

    def __str__(self) -> str:
        return f"baseline pending {self.unit_id}/{self.sheet_id}/{self.period}"
