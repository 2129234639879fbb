"""The catalogue, subscriptions and requests, submissions, the outbox, and the office's records."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from core.models import Area, AreaLevel, Department, Office, Unit
from reporting import fieldtypes
from reporting.errors import Problem
from reporting.periods import Period, PeriodType

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

    # not a column: the catalogue generation `onetable.active_sheet` read this copy at
    read_at_generation: int | None = None
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
    description = models.TextField(_("description"), blank=True)
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
    def required(self) -> bool:
        return bool(self.constraints.get("required"))

    def parse(self, raw: Any) -> Any:
        """Parse one raw value under this field's definition; Problems are labelled with the field's names."""
        try:
            return fieldtypes.parse_value(self.type, self.constraints, raw, field=self.code)
        except Problem as problem:
            raise problem.labelled(self.name_zh, self.name_en) from None


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    ENDED = "ended", _("Ended")


# Which subscriptions cover an area on a day: the one home of the rule. A subscription covers an area on a
# day when it is active, its scope is the area or one above it, and the day lies in its window, from
# `starts_on` through `expires_on` (no expiry: open-ended); of the fields it claims, it asks those the
# catalogue still asks that day (`FieldQuerySet.asked_on`). It is written in three forms, one per kind of
# caller, side by side here; tests/reporting/test_subscription_window.py checks that they agree:
#   - the QuerySet `Subscription.objects.active(on=day).covering(area)`, for queries;
#   - `covers_sql`, for statements that judge many submissions against a subscription's values at once;
#   - `covering_scopes`, `window_holds` and `field_asked_on`, for catalogues held in memory (the one table,
#     delivery targets), over rows read through `active()` and `Field.objects.asked_on()`.
# Reading and receiving is the neighbouring rule `entitling` (its SQL twin: `entitles_sql`).


def _running_on(day: dt.date) -> Q:
    """Not expired before `day` (no expiry: never)."""
    return Q(expires_on__isnull=True) | Q(expires_on__gte=day)


class SubscriptionQuerySet(models.QuerySet["Subscription"]):
    def active(self, on: dt.date | None = None, *, through: dt.date | None = None) -> SubscriptionQuerySet:
        """Active subscriptions; with `on`, those whose window holds that day (with `through`: a day up to it)."""
        found = self.filter(status=SubscriptionStatus.ACTIVE)
        if on is None:
            return found
        return found.filter(_running_on(on), starts_on__lte=through or on)

    def covering(self, area: Area) -> SubscriptionQuerySet:
        """Subscriptions whose scope is `area` or an area above it."""
        return self.filter(scope__code__in=covering_scopes(area))

    def entitling(self, today: dt.date) -> SubscriptionQuerySet:
        """Subscriptions that entitle their department to read and receive on `today`: active, not yet
        expired. When one stops, every read path stops serving it (design invariant 3). Its SQL twin is
        `entitles_sql`; a test checks that the two agree."""
        return self.filter(_running_on(today), status=SubscriptionStatus.ACTIVE)

    def expired(self, today: dt.date) -> SubscriptionQuerySet:
        """Active subscriptions whose window ended before `today`: what the daily check ends."""
        return self.filter(status=SubscriptionStatus.ACTIVE).exclude(_running_on(today))


def covering_scopes(area: Area) -> list[str]:
    """The codes of the scopes that cover `area`: its own and those of the areas above it (no query)."""
    return area.lineage_codes()


def window_holds(starts_on: dt.date, expires_on: dt.date | None, day: dt.date) -> bool:
    """`active(on=day)` for a subscription read through `active()`: its window holds `day`."""
    return starts_on <= day and (expires_on is None or day <= expires_on)


def field_asked_on(retired_from: dt.date | None, day: dt.date) -> bool:
    """`Field.objects.asked_on(day)` for a field read through `asked_on()`: not retired by `day`."""
    return retired_from is None or day < retired_from


def covers_sql(
    key: str,
    *,
    scope_path: str,
    starts_on: dt.date,
    expires_on: dt.date | None,
    area_path: str = "a.path",
    day: str = "s.period_start",
) -> tuple[str, dict[str, Any]]:
    """`active(on=day).covering(area)` in SQL for one subscription read through `active()`, and its parameters."""
    # `area_path` and `day` are the statement's SQL expressions; the parameters' names end in `key`.
    # The scope's path is bound as a prefix pattern, so PostgreSQL scans the area path index; an open window
    # adds no condition rather than a NULL test.
    until = f" AND {day} <= %(until_{key})s" if expires_on is not None else ""
    return (
        f"({area_path} LIKE %(path_{key})s AND {day} >= %(start_{key})s{until})",
        {f"path_{key}": scope_path + "%", f"start_{key}": starts_on, f"until_{key}": expires_on},
    )


def entitles_sql(alias: str, today: str) -> str:
    """`SubscriptionQuerySet.entitling` in SQL, for statements that join the outbox to `reporting_subscription`
    (the feed, the send claim): `alias` names the subscription row, `today` the placeholder of the date."""
    active = SubscriptionStatus.ACTIVE.value
    return f"({alias}.status = '{active}' AND ({alias}.expires_on IS NULL OR {alias}.expires_on >= {today}))"


class Subscription(models.Model):
    """A department's approved, purpose-bound claim on some fields within its jurisdiction."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="subscriptions")
    fields = models.ManyToManyField(Field, related_name="subscriptions", verbose_name=_("fields"))
    scope = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+", verbose_name=_("scope"))
    purpose = models.TextField(_("purpose"))
    legal_basis = models.CharField(_("legal basis"), max_length=200, blank=True)
    # A period is covered when it starts inside [starts_on, expires_on].
    starts_on = models.DateField(_("first day covered"))
    expires_on = models.DateField(_("last day covered"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Delivery mode: always readable from the department's feed; also pushed when an endpoint is set.
    endpoint = models.ForeignKey("Endpoint", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        indexes = [models.Index(fields=["scope", "status"])]

    def __str__(self) -> str:
        return f"{self.department} #{self.pk}"

    def clean(self) -> None:
        if self.scope_id and self.department_id and not self.department.jurisdiction.contains(self.scope):
            raise ValidationError(
                {"scope": "订阅范围须在本部门辖区内 / the scope must lie inside the department's jurisdiction"}
            )
        if self.expires_on and self.starts_on and self.expires_on < self.starts_on:
            raise ValidationError({"expires_on": "到期日不能早于开始日 / the expiry must not precede the start"})

    def days_within(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
        """The first and last day of [start, end] its window holds (the first after the last: none)."""
        return max(start, self.starts_on), min(end, self.expires_on or end)


class DueRule(models.Model):
    """The office's one calendar: for a cadence, the due date is N days after the period ends."""

    cadence = models.CharField(_("cadence"), max_length=10, choices=Cadence.choices, unique=True)
    days_after_period_end = models.PositiveIntegerField(_("days after the period ends"))

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


class Submission(models.Model):
    """A unit's filing of one sheet for one period, or one ledger record; its content lives in versions."""

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="submissions")
    sheet = models.ForeignKey(Sheet, on_delete=models.PROTECT, related_name="submissions")
    period = models.CharField(_("period"), max_length=7)
    # Ledger records only: which record, and the day it happened (its period is that day's month).
    record_key = models.UUIDField(null=True, blank=True, unique=True)
    record_date = models.DateField(null=True, blank=True)
    # The day subscriptions are checked against: the period's first day, or a ledger record's date.
    period_start = models.DateField(db_index=True)
    current_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "sheet", "period"],
                condition=Q(record_key__isnull=True),
                name="one_submission_per_unit_sheet_period",
            ),
        ]
        indexes = [models.Index(fields=["unit", "sheet", "-period"])]

    def __str__(self) -> str:
        return f"{self.unit} {self.sheet.code} {self.period} v{self.current_version}"

    @property
    def is_corrected(self) -> bool:
        return self.current_version > 1

    @property
    def period_label(self) -> str:
        return Period.parse(self.period).label()


class SubmissionVersion(models.Model):
    """One immutable version of a submission: the values as filed, and what filing them saved.

    PostgreSQL refuses to change or delete a version (migration `reporting.0017_append_only`): a correction is
    a new version. State that later work needs about a version (e.g. which ones a relay has handled) lives in
    tables of its own, never in these rows.
    """

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    # {field code: canonical JSON value}; "not applicable" answers live in `not_applicable`.
    values = models.JSONField(default=dict)
    not_applicable = models.JSONField(default=dict)  # {field code: reason}
    carried = ArrayField(models.CharField(max_length=40), default=list)  # stable facts confirmed unchanged
    reason = models.TextField(blank=True)  # why it was corrected (versions after the first)
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    # What filing this version saved the unit (burden figures).
    asked_count = models.PositiveIntegerField(default=0)  # fields in the one table when it was filed
    typed_count = models.PositiveIntegerField(default=0)
    carried_count = models.PositiveIntegerField(default=0)
    na_count = models.PositiveIntegerField(default=0)
    department_count = models.PositiveIntegerField(default=0)
    refills_spared = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("submission version")
        verbose_name_plural = _("submission versions")
        ordering = ["submission", "number"]
        constraints = [models.UniqueConstraint(fields=["submission", "number"], name="one_version_number")]

    def __str__(self) -> str:
        return f"{self.submission_id} v{self.number}"


class Draft(models.Model):
    """A cadre's unsent work on one sheet and period; never delivered, overwritten on save."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="drafts")
    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="+")
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


class AllowedNetwork(models.Model):
    """A network the office allows webhook deliveries to (checked on the address actually connected to)."""

    cidr = models.CharField(_("network (CIDR)"), max_length=50, unique=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("allowed webhook network")
        verbose_name_plural = _("allowed webhook networks")

    def __str__(self) -> str:
        return self.cidr

    def clean(self) -> None:
        import ipaddress

        try:
            ipaddress.ip_network(self.cidr, strict=False)
        except ValueError:
            raise ValidationError(
                {"cidr": "须为网络地址，如 10.20.0.0/16 / must be a network such as 10.20.0.0/16"}
            ) from None


class Endpoint(models.Model):
    """A department's webhook receiver; it backs off on its own and never delays another's."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="endpoints")
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(max_length=100)  # whsec_<base64>
    # During a rotation both signatures are sent until the previous secret expires.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)  # paused when False
    # Circuit breaker: consecutive failed attempts, and no sending before `open_until`.
    failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    # A worker sending this endpoint's batch holds the lease (on the database's clock), renewing it while its
    # request lasts; it runs out within seconds if the worker dies.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # When a batch last reached the receiver: kept here because counting an outbox that only grows does not scale.
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return f"{self.department.code}: {self.name}"


class DeliveryStatus(models.TextChoices):
    FEED = "feed", _("In the feed")  # no webhook: the department reads it from its feed
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Retrying")
    DELIVERED = "delivered", _("Delivered")
    DEAD = "dead", _("Dead-lettered")
    # its subscription ended (or expired) before it was sent: never sent, never shown (design invariant 3)
    WITHDRAWN = "withdrawn", _("Withdrawn")


SENDABLE = [DeliveryStatus.PENDING, DeliveryStatus.RETRYING]


class Delivery(models.Model):
    """One submission version made available to one subscription (the outbox row).

    Its content is the version's values restricted to `fields`: both are fixed at
    creation, so what a delivery carries never changes. `txid` is the creating
    transaction's id; the feed orders by (txid, id) and only shows transactions
    older than every running one, so a reader following cursors misses nothing.
    """

    # Every index is paid for by each of the ~30 rows a filing inserts: department and submission lead the
    # composite indexes below, and only corrections set `supersedes` (a partial index).
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="deliveries", db_index=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries")
    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="deliveries", db_index=False)
    version = models.ForeignKey(SubmissionVersion, on_delete=models.PROTECT, related_name="deliveries")
    supersedes = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    fields = ArrayField(models.CharField(max_length=40))
    txid = models.BigIntegerField(editable=False)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # A replay starts a fresh retry window here; until one, the window starts at `created_at`.
    retry_from = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [
            models.Index(fields=["department", "txid", "id"], name="delivery_feed_order"),
            models.Index(
                fields=["endpoint", "next_attempt_at", "id"],
                name="delivery_sendable",
                condition=Q(status__in=["pending", "retrying"]),
            ),
            models.Index(fields=["submission", "subscription"], name="delivery_by_submission"),
            models.Index(fields=["supersedes"], name="delivery_supersedes", condition=Q(supersedes__isnull=False)),
            # the department's dead letters, newest first (few rows: the index stays small)
            models.Index(fields=["department", "-id"], name="delivery_dead", condition=Q(status="dead")),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def public_id(self) -> str:
        return f"dlv_{self.pk}"


class AccessKind(models.TextChoices):
    PUSHED = "pushed", _("Pushed by webhook")
    PULLED = "pulled", _("Read from the feed")
    QUERIED = "queried", _("Queried or exported")
    CHARTED = "charted", _("Summed in a chart")


class AccessRecord(models.Model):
    """Who received or read which unit's data, when, under which subscription: visible to that unit.

    PostgreSQL refuses to change one, or to delete one outside the schema owner's maintenance (retention).
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
        Subscription, on_delete=models.PROTECT, related_name="access_records", db_index=False, db_constraint=False
    )
    delivery = models.ForeignKey(
        Delivery, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    sheet = models.ForeignKey(Sheet, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
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

    def __str__(self) -> str:
        return f"{self.department_id} {self.kind} {self.unit_id} {self.periods}"

    @property
    def periods(self) -> str:
        """The period, or the range of periods, the record is about."""
        return f"{self.period_from}–{self.period}" if self.period_from else self.period


class RequestStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Under review")
    APPROVED = "approved", _("Approved")
    PARTLY_APPROVED = "partly_approved", _("Approved in part")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class DataRequest(models.Model):
    """A department's demand for grassroots data (用数申请); nothing reaches the grassroots until approved."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="data_requests")
    title = models.CharField(_("title"), max_length=120)
    purpose = models.TextField(_("purpose"))
    legal_basis = models.CharField(_("legal basis"), max_length=200)
    scope = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+", verbose_name=_("scope"))
    first_period = models.CharField(_("first period"), max_length=7)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("webhook endpoint")
    )
    fields = models.ManyToManyField(Field, blank=True, related_name="requests", verbose_name=_("existing fields"))
    # New fields proposed because nothing in the catalogue covers the need:
    # [{"code", "name_zh", "name_en", "type", "constraints", "unit_of_measure", "sheet", "description"}]
    proposed = models.JSONField(_("proposed new fields"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.DRAFT)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)
    subscription = models.OneToOneField(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="request"
    )
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("data request")
        verbose_name_plural = _("data requests")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.department.code}: {self.title}"

    @property
    def editable(self) -> bool:
        return self.status == RequestStatus.DRAFT


class RequestEvent(models.Model):
    """One step in a data request's history: created, edited, submitted, withdrawn, decided."""

    request = models.ForeignKey(DataRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    action = models.CharField(
        max_length=30,
        choices=[
            ("created", pgettext_lazy("request history", "Created")),
            ("edited", _("Edited")),
            ("submitted", _("Submitted for review")),
            ("withdrawn", _("Withdrawn")),
            ("approved", _("Approved")),
            ("partly_approved", _("Approved in part")),
            ("rejected", _("Rejected")),
        ],
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.action}"


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
        Subscription, on_delete=models.CASCADE, null=True, blank=True, related_name="zombie_flags"
    )
    field = models.ForeignKey(Field, on_delete=models.CASCADE, null=True, blank=True, related_name="zombie_flags")
    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, null=True, blank=True, related_name="zombie_flags")
    reason = models.TextField()
    flagged_on = models.DateField()
    grace_until = models.DateField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    confirm_reason = models.TextField(blank=True)
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
    writes sheets, fields, revisions, subscriptions, their fields or departments, so
    even bulk updates count. Per-process caches of what the one table needs key on the
    value: a filing reads one small row instead of the sheet's claims and definitions.
    The value is never reused (the sequence belongs to no table, so no flush resets it).
    """

    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"catalogue generation {self.value}"
