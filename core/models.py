"""The organisation: Areas, the Units that report, the Departments that use data, the Office."""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext_lazy as _

# Statutory codes (统计用区划代码) are 12 digits; we accept 6 (county-level legacy) to 12.
AREA_CODE = re.compile(r"^\d{6,12}$")


class AreaLevel(models.TextChoices):
    PROVINCE = "province", _("Province")
    CITY = "city", _("City")
    COUNTY = "county", _("County")
    TOWNSHIP = "township", _("Township")
    VILLAGE = "village", _("Village")


LEVEL_DEPTH = {level: depth for depth, level in enumerate(AreaLevel.values)}


class AreaQuerySet(models.QuerySet["Area"]):
    def subtree(self, area: Area) -> AreaQuerySet:
        """The area and everything below it (one indexed prefix scan)."""
        return self.filter(path__startswith=area.path)

    def below(self, area: Area) -> AreaQuerySet:
        return self.subtree(area).exclude(pk=area.pk)


class Area(models.Model):
    code = models.CharField(_("statutory code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=10, choices=AreaLevel.choices)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    # Materialised path of codes ("360000000000/360700000000/…/"): subtree = prefix match.
    path = models.CharField(max_length=255, editable=False)

    objects = AreaQuerySet.as_manager()

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["path"]
        indexes = [models.Index(fields=["path"], opclasses=["varchar_pattern_ops"], name="area_path_prefix")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs) -> None:
        new_path = (self.parent.path if self.parent else "") + self.code + "/"
        old_path = self.path
        with transaction.atomic():
            self.path = new_path
            super().save(*args, **kwargs)
            if old_path and old_path != new_path:
                # Re-parented or re-coded: rewrite every descendant's path in one statement.
                Area.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
                    path=Concat(Value(new_path), Substr(F("path"), len(old_path) + 1), output_field=models.CharField())
                )

    def clean(self) -> None:
        if not AREA_CODE.match(self.code or ""):
            raise ValidationError(
                {"code": "统计用区划代码须为 6–12 位数字 / the statutory code must be 6 to 12 digits"}
            )
        if self.parent is None:
            return
        if LEVEL_DEPTH[self.level] != LEVEL_DEPTH[self.parent.level] + 1:
            raise ValidationError({"level": "层级须比上级低一级 / the level must be one below the parent's level"})
        if self.path and self.parent.path.startswith(self.path):
            raise ValidationError({"parent": "不能移到自己的下级 / an area cannot move below itself"})

    def contains(self, other: Area) -> bool:
        return other.path.startswith(self.path)

    def lineage_codes(self) -> list[str]:
        """Codes of this area and every area above it (read off the path: no query)."""
        return lineage_of(self.path)


def lineage_of(path: str) -> list[str]:
    """`Area.lineage_codes` of the area with this path, for callers that hold paths rather than areas."""
    return [code for code in path.split("/") if code]


class Unit(models.Model):
    """A grassroots body that reports facts about its Area (a township government, a village committee)."""

    name = models.CharField(_("name"), max_length=120)
    area = models.OneToOneField(Area, on_delete=models.PROTECT, related_name="unit")

    class Meta:
        verbose_name = _("reporting unit")
        verbose_name_plural = _("reporting units")
        ordering = ["area__path"]

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    """A county or city body that consumes data; it may only see its jurisdiction."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    jurisdiction = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="departments")

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Office(models.Model):
    """The body that owns the catalogue and reviews every demand (数据办 / 减负办)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="offices")

    class Meta:
        verbose_name = _("office")
        verbose_name_plural = _("offices")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    UNIT_CADRE = "unit_cadre", _("Unit cadre")
    DEPARTMENT_ANALYST = "department_analyst", _("Department analyst")
    DEPARTMENT_SYSTEM = "department_system", _("Department system")
    OFFICE_ADMIN = "office_admin", _("Office admin")


class User(AbstractUser):
    """A person or system with exactly one role in exactly one body."""

    # No login statistics (rule against fingertip formalism): the column does not exist,
    # so Django's update_last_login handler is never connected.
    last_login = None

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="members")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True, related_name="members")
    office = models.ForeignKey(Office, on_delete=models.PROTECT, null=True, blank=True, related_name="members")

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                name="user_role_matches_body",
                condition=(
                    Q(role="", unit=None, department=None, office=None)
                    | Q(role=Role.UNIT_CADRE, unit__isnull=False, department=None, office=None)
                    | Q(
                        role__in=[Role.DEPARTMENT_ANALYST, Role.DEPARTMENT_SYSTEM],
                        unit=None,
                        department__isnull=False,
                        office=None,
                    )
                    | Q(role=Role.OFFICE_ADMIN, unit=None, department=None, office__isnull=False)
                ),
                violation_error_message="角色与所属单位不符 / the role does not match the body the user belongs to",
            )
        ]

    @property
    def is_cadre(self) -> bool:
        return self.role == Role.UNIT_CADRE

    @property
    def is_department_user(self) -> bool:
        return self.role in (Role.DEPARTMENT_ANALYST, Role.DEPARTMENT_SYSTEM)

    @property
    def is_office_admin(self) -> bool:
        return self.role == Role.OFFICE_ADMIN


class AuditEvent(models.Model):
    """Append-only record of every state change (who, what, when), sealed into a hash chain after commit.

    PostgreSQL refuses to change or delete an event (migration `core.0003_audit_chain`); the only change it
    allows is the sealer's: setting `seq` and `hash` once, from empty. State that later work needs about an
    event lives in tables of its own, never in these rows.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=60)
    detail = models.JSONField(default=dict, blank=True)
    # The inserting transaction's id, set by the database whatever the INSERT says: the chain's order.
    txid = models.BigIntegerField(null=True, editable=False)
    # The event's position in the chain and the chain's hash through it; set once by core.audit.seal_events.
    seq = models.BigIntegerField(null=True, unique=True, editable=False)
    hash = models.CharField(max_length=64, null=True, editable=False)

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            # what the sealer takes next, in chain order (few rows: events are sealed within seconds)
            models.Index(fields=["txid", "id"], name="audit_unsealed", condition=Q(seq__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target_type}#{self.target_id}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self) -> ApiTokenQuerySet:
        from django.utils import timezone

        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True)


class ApiToken(models.Model):
    """A bearer token for a system; only its SHA-256 is stored, the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)  # shown in lists to tell tokens apart
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
