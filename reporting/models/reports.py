"""Report templates: a department's own Excel layout (its legacy report), the cells OneTable fills, and the
generation jobs that fill them (reporting/reads/reports.py, reporting/services/reports.py)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Area, AreaLevel, Department
from reporting.catalogue.periods import PeriodType
from reporting.models.reads import ExportStatus


class ReportTemplate(models.Model):
    """The XLSX a department must send upward, as uploaded (bytes kept here: a template is small, at most
    `MAX_TEMPLATE_BYTES`), with the period type and area level it reports on."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="report_templates")
    name = models.CharField(_("name"), max_length=120)
    filename = models.CharField(max_length=200)
    content = models.BinaryField()
    period_type = models.CharField(_("period type"), max_length=10, choices=[(t.value, t.value) for t in PeriodType])
    # the level of the areas its rows/columns name (e.g. township), blank: the report's own area only
    level = models.CharField(_("level"), max_length=10, choices=AreaLevel.choices, blank=True)
    # generate it automatically each period once this percentage of the asked units reported; null: never
    auto_coverage = models.PositiveSmallIntegerField(_("auto-generate at coverage (%)"), null=True, blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class CellKind(models.TextChoices):
    FIELD = "field", _("Field roll-up")
    INDICATOR = "indicator", _("Indicator")
    REPORTED = "reported", _("Units reported")
    ASKED = "asked", _("Units asked")
    COVERAGE = "coverage", _("Coverage (reported/asked)")
    PERIOD = "period", _("Period label")
    AREA = "area", _("Area name")
    NONE = "none", _("Not filled")


class ReportCell(models.Model):
    """One cell OneTable fills: where, the label it was found by, what OneTable suggested, and what fills it."""

    template = models.ForeignKey(ReportTemplate, on_delete=models.CASCADE, related_name="cells")
    sheet = models.CharField(max_length=31)
    cell = models.CharField(max_length=12)  # "C5"
    row = models.PositiveIntegerField()
    column = models.PositiveIntegerField()
    label = models.CharField(max_length=300)  # the label(s) it was found by: "常住人口（人） / 青山镇"
    suggested = models.CharField(max_length=50, blank=True)  # "field:resident_population", "indicator:x", "period"
    similarity = models.FloatField(default=0)
    kind = models.CharField(max_length=10, choices=CellKind.choices, default=CellKind.NONE)
    field = models.ForeignKey("reporting.Field", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    indicator = models.ForeignKey(
        "reporting.Indicator", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # the area it reports on: null = the report's area, else a named area (a child, by its row label)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    confirmed = models.BooleanField(default=False)

    class Meta:
        ordering = ["sheet", "row", "column"]
        constraints = [models.UniqueConstraint(fields=["template", "sheet", "cell"], name="one_report_cell")]

    def __str__(self) -> str:
        return f"{self.sheet}!{self.cell}"

    @property
    def choice(self) -> str:
        """The mapping as one select value: "field:<code>", "indicator:<code>", or the kind."""
        if self.kind == CellKind.FIELD and self.field is not None:
            return f"field:{self.field.code}"
        if self.kind == CellKind.INDICATOR and self.indicator is not None:
            return f"indicator:{self.indicator.code}"
        if self.kind in (CellKind.REPORTED, CellKind.ASKED, CellKind.COVERAGE) and self.field is not None:
            return f"{self.kind}:{self.field.code}"
        return str(self.kind)


class ReportJob(models.Model):
    """One generation of a template for a period and area, in the background (like ExportJob); `auto` jobs are
    made by the periodic check, at most one per template, period and area."""

    template = models.ForeignKey(ReportTemplate, on_delete=models.CASCADE, related_name="jobs")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    period = models.CharField(max_length=7)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    auto = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    cells_total = models.PositiveIntegerField(default=0)
    cells_done = models.PositiveIntegerField(default=0)
    # how many times a worker took the job, counted in the claim's transaction (`reporting.jobs`)
    attempts = models.PositiveSmallIntegerField(default=0)
    file = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "period", "area"], condition=models.Q(auto=True), name="one_auto_report"
            )
        ]

    def __str__(self) -> str:
        return f"report {self.pk} {self.period} {self.status}"

    @property
    def percent(self) -> int:
        return 100 if self.status == ExportStatus.DONE else int(100 * self.cells_done / max(1, self.cells_total))
