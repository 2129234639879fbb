"""Subscriptions (and the one home of the covering rule), data requests and their events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

from core.models import Area, AreaLevel, Department


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    ENDED = "ended", _("Ended")


class AggregateKind(models.TextChoices):
    """What an aggregate-only subscription may read of the units' values. Never a minimum or a maximum: each is
    one unit's value. A field's aggregation (`Field.aggregation`) and an indicator's roll-up map to these by
    `aggregate_kind_of`."""

    SUM = "sum", _("Sum")
    COUNT = "count", _("Count (units that said yes)")
    MEAN = "mean", _("Mean")
    RATIO = "ratio", _("Ratio")

    @classmethod
    def names_of(cls, codes: list[str]) -> str:
        """The kinds' names in the reader's language, in the order given (`aggregations` of a request or a
        subscription), joined as a list is written in that language."""
        return pgettext("list separator", ", ").join(str(cls(code).label) for code in codes if code in cls.values)


# A field's aggregation (reporting.models.Aggregation) and an indicator's roll-up (IndicatorRollup) as the kind an
# aggregate-only subscription must allow to read it; absent (min, max, none): never readable by one.
AGGREGATE_KINDS = {
    "sum": AggregateKind.SUM,
    "count_yes": AggregateKind.COUNT,
    "mean": AggregateKind.MEAN,
    "ratio_of_sums": AggregateKind.RATIO,
    "area": AggregateKind.RATIO,
}


def aggregate_kind_of(aggregation: str) -> str | None:
    """The kind an aggregate-only subscription must allow to read an aggregate of this aggregation/roll-up."""
    kind = AGGREGATE_KINDS.get(aggregation)
    return kind.value if kind is not None else None


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

    def covered_areas(self) -> Q:
        """A filter on areas (`Area` rows) that one of these subscriptions covers by scope: its scope or below."""
        inside = Q(pk__in=[])
        for path in set(self.values_list("scope__path", flat=True)):
            inside |= Q(path__startswith=path)
        return inside

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
    fields = models.ManyToManyField("reporting.Field", related_name="subscriptions", verbose_name=_("fields"))
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
    # The transactions (pg_current_xact_id) that last made it active and that ended or suspended it, stamped by
    # the database (trigger of migration 0028) whatever a save says: the relay judges a filing against the
    # subscriptions in force in the filing's snapshot (`reporting.services.relay`).
    active_from_xid = models.BigIntegerField(null=True, blank=True, editable=False)
    active_until_xid = models.BigIntegerField(null=True, blank=True, editable=False)

    # Delivery mode: always readable from the department's feed; also pushed when an endpoint is set.
    endpoint = models.ForeignKey("Endpoint", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Aggregate-only (issue 20): with a level, the department reads only aggregates of the units' values at that
    # level or above, within its scope, of the kinds in `aggregations`; never a unit's value (no data rows, no
    # deliveries, no DHIS2 data values). The units are still asked the fields (they are what is aggregated).
    # Null: unit-level, as before.
    level = models.CharField(_("aggregate level"), max_length=10, choices=AreaLevel.choices, null=True, blank=True)
    aggregations = ArrayField(
        models.CharField(max_length=8, choices=AggregateKind.choices),
        default=list,
        blank=True,
        verbose_name=_("aggregations"),
    )
    indicators = models.ManyToManyField(
        "reporting.Indicator", blank=True, related_name="subscriptions", verbose_name=_("indicators")
    )
    # Push (aggregate-only with an endpoint): once an area's coverage for a period reaches this percentage, its
    # figure is pushed (one delivery per area and period, a new one when the figure changes).
    push_coverage = models.PositiveSmallIntegerField(_("push at coverage (%)"), null=True, blank=True)

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

    @property
    def aggregate_only(self) -> bool:
        return self.level is not None

    def days_within(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
        """The first and last day of [start, end] its window holds (the first after the last: none)."""
        return max(start, self.starts_on), min(end, self.expires_on or end)


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
    purpose = models.TextField(_("purpose"), max_length=1000)
    legal_basis = models.CharField(_("legal basis"), max_length=200)
    scope = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+", verbose_name=_("scope"))
    first_period = models.CharField(_("first period"), max_length=7)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    endpoint = models.ForeignKey(
        "reporting.Endpoint",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("webhook endpoint"),
    )
    fields = models.ManyToManyField(
        "reporting.Field", blank=True, related_name="requests", verbose_name=_("existing fields")
    )
    # Existing fields whose values the department's register will supply (一数一源): approval makes it their
    # source, so units confirm its values instead of typing them
    source_fields = models.ManyToManyField(
        "reporting.Field", blank=True, related_name="source_requests", verbose_name=_("fields to supply")
    )
    indicators = models.ManyToManyField(
        "reporting.Indicator", blank=True, related_name="requests", verbose_name=_("indicators")
    )
    # Aggregate-only (see Subscription.level): the fields and indicators at this level, of these kinds.
    level = models.CharField(_("aggregate level"), max_length=10, choices=AreaLevel.choices, null=True, blank=True)
    aggregations = ArrayField(
        models.CharField(max_length=8, choices=AggregateKind.choices),
        default=list,
        blank=True,
        verbose_name=_("aggregations"),
    )
    push_coverage = models.PositiveSmallIntegerField(_("push at coverage (%)"), null=True, blank=True)
    # New fields proposed because nothing in the catalogue covers the need:
    # [{"code", "name_zh", "name_en", "type", "constraints", "unit_of_measure", "sheet", "description", "source"}]
    # ("source": true: the department's register will supply it)
    proposed = models.JSONField(_("proposed new fields"), default=list, blank=True)
    # Validation rules proposed for the office to add on approval (each checked like the office's own):
    # [{"code", "sheet", "left", "operator", "right", "strategy", "importance", "message_zh", "message_en"}]
    proposed_rules = models.JSONField(_("proposed validation rules"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.DRAFT)
    decision_reason = models.TextField(_("reason for the decision"), max_length=1000, blank=True)
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

    @property
    def aggregation_labels(self) -> str:
        return AggregateKind.names_of(self.aggregations)


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
