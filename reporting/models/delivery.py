"""Delivery: allowed networks, webhook endpoints, the outbox of deliveries."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import Department


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
    """One submission version made available to one subscription (the outbox row), made by the relay
    (`reporting.services.relay`) once per (version, subscription).

    Its content is the version's values restricted to `fields`: both are fixed at
    creation, so what a delivery carries never changes. `position` is its place in
    the department's feed, given in the order the relay's transactions commit.
    `txid` is kept only on rows made before the relay (migration 0028): a cursor
    of the old form (txid-id) is mapped to a position through it.
    """

    # Every index is paid for by each of the ~30 rows a filing inserts: department and submission lead the
    # composite indexes below, and only corrections set `supersedes` (a partial index).
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="deliveries", db_index=False)
    subscription = models.ForeignKey("reporting.Subscription", on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries")
    submission = models.ForeignKey(
        "reporting.Submission", on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    # indexed by `delivery_once`, which leads with it
    version = models.ForeignKey(
        "reporting.SubmissionVersion",
        on_delete=models.PROTECT,
        related_name="deliveries",
        db_index=False,
        db_constraint=False,
    )
    # no database constraint: the table is partitioned (by `version_month`), so its key is (id, version_month) and
    # `id` alone is no unique constraint a foreign key could reference; the relay sets it from the row it found
    supersedes = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False, db_constraint=False
    )
    fields = ArrayField(models.CharField(max_length=40))
    position = models.BigIntegerField(editable=False)
    # The partition key (migration 0035): the first day of the UTC month the version was stored in, so fixed by the
    # version and the same for every delivery of it, made once or relayed again a month later.
    version_month = models.DateField(editable=False)
    # The version's own partition key (`SubmissionVersion.period_start`, migration 0042), set by the relay from the
    # version's marker: a delivery's body is read with the version's whole key, one year's partition, where by id
    # alone it probed every year's. Not the submission's `period_start`: a ledger record moved to another date
    # since keeps its older versions where they were stored.
    version_start = models.DateField(editable=False)
    txid = models.BigIntegerField(null=True, blank=True, editable=False)
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
        constraints = [
            # exactly once per (version, subscription): the relay inserts with ON CONFLICT DO NOTHING. PostgreSQL
            # wants the partition key in it; `version_month` is a function of the version, so two rows with the same
            # (version, subscription) have the same month and this is the same rule.
            models.UniqueConstraint(fields=["version", "subscription", "version_month"], name="delivery_once"),
        ]
        indexes = [
            # the department's feed, in the order the relay committed. Not a unique index (it cannot hold the
            # partition key): positions come from the department's `FeedCounter`, incremented under its row lock
            # until the relay's commit, so no two rows ever get one.
            models.Index(fields=["department", "position"], name="delivery_feed_position"),
            # old cursors (txid-id) of rows made before the relay; new rows leave it untouched
            models.Index(
                fields=["department", "txid", "id"], name="delivery_old_cursor", condition=Q(txid__isnull=False)
            ),
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


class AggregatePush(models.Model):
    """One aggregate figure owed to an aggregate-only subscription's endpoint (issue 20): an area's roll-up of
    one field or indicator for one period, once its coverage reached the subscription's `push_coverage`.

    Written when the figure (value, suppressed, reason) first qualifies and again only when it changes; each row
    is sent once, signed like deliveries and backing off in PostgreSQL (`services/aggregate_pushes.py`)."""

    subscription = models.ForeignKey("reporting.Subscription", on_delete=models.PROTECT, related_name="pushes")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="aggregate_pushes")
    code = models.CharField(max_length=40)  # the field's or indicator's code
    area = models.CharField(max_length=12)  # the area's code
    period = models.CharField(max_length=7)
    figure = models.JSONField()  # what decides "changed": {"value", "suppressed", "reason"}
    body = models.JSONField()  # what is posted: the figure with its coverage when it was written
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("aggregate push")
        verbose_name_plural = _("aggregate pushes")
        indexes = [
            models.Index(fields=["subscription", "code", "area", "period", "-id"], name="aggregate_push_latest"),
            models.Index(
                fields=["endpoint", "next_attempt_at", "id"],
                name="aggregate_push_sendable",
                condition=Q(status__in=["pending", "retrying"]),
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def public_id(self) -> str:
        return f"agg_{self.pk}"


class RelayPending(models.Model):
    """A committed version whose deliveries the relay has still to make (the transactional outbox's event).

    The filing's transaction inserts it beside the version, whatever the number of subscribers; the relay
    makes the deliveries and deletes it in one transaction. `snapshot` is the PostgreSQL snapshot
    (`pg_current_snapshot()`, as text) in which the filing read its catalogue generation: the relay sends the
    version to the subscriptions in force in it (`Subscription.active_from_xid`), as the filing's table saw."""

    version = models.OneToOneField(
        "reporting.SubmissionVersion", on_delete=models.PROTECT, primary_key=True, related_name="+", db_constraint=False
    )
    # a correction waits for the relay to finish its submission's earlier version (it names that delivery)
    submission = models.ForeignKey("reporting.Submission", on_delete=models.PROTECT, related_name="+")
    # the version's partition key: the relay finds the version in its year's partition only
    period_start = models.DateField()
    snapshot = models.TextField()
    # the filing's own transaction (pg_current_xact_id): no snapshot says whether its own changes are in it
    xid = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("version awaiting the relay")
        verbose_name_plural = _("versions awaiting the relay")

    def __str__(self) -> str:
        return f"version {self.pk} awaiting the relay"


class FeedCounter(models.Model):
    """The last feed position given in a department's feed. The relay locks it (departments in id order) while
    it numbers that department's new deliveries, so positions are given in commit order."""

    department = models.OneToOneField(Department, on_delete=models.PROTECT, primary_key=True, related_name="+")
    last = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("feed counter")
        verbose_name_plural = _("feed counters")

    def __str__(self) -> str:
        return f"feed of department {self.pk} at {self.last}"
