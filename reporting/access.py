"""Who may reach which reporting object. Anything a user may not reach is a 404, never a hint that it exists.

The unit, the department and the office a user works for come from `core.access`; these helpers take one
of them and answer one of its own rows."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from core.models import Department, Office, Unit
from reporting.filing.onetable import active_sheet
from reporting.models import (
    DataRequest,
    Delivery,
    Dispute,
    Endpoint,
    ExportJob,
    Question,
    ReportJob,
    ReportTemplate,
    RequestStatus,
    Sheet,
    Submission,
    SupplyJob,
    ZombieFlag,
)
from reporting.reads.questions import department_question


def _found[T](row: T | None) -> T:
    if row is None:
        raise Http404
    return row


def access_unit_sheet(unit: Unit, code: str) -> Sheet:
    """An active sheet this unit's level fills."""
    sheet = active_sheet(code)
    if sheet is None or unit.area.level not in sheet.unit_levels:
        raise Http404
    return sheet


def access_unit_submission(unit: Unit, pk: int | None) -> Submission:
    """One of this unit's own submissions or ledger records."""
    return _found(
        Submission.objects.by_units().select_related("sheet", "unit__area").filter(pk=pk or 0, unit=unit).first()
    )


def access_data_request(department: Department, pk: int | None) -> DataRequest:
    """One of the department's own data requests."""
    return _found(DataRequest.objects.filter(pk=pk or 0, department=department).first())


def access_request_for_review(office: Office, pk: int | None) -> DataRequest:
    """A data request the office reviews or has reviewed: any department's, once submitted (a draft is its
    department's alone)."""
    found = (
        DataRequest.objects.filter(pk=pk or 0)
        .exclude(status=RequestStatus.DRAFT)
        .select_related("department", "scope", "subscription")
        .first()
    )
    return _found(found)


def access_export_job(department: Department, pk: int | None) -> ExportJob:
    """One of the department's own export jobs."""
    return _found(ExportJob.objects.filter(pk=pk or 0, department=department).first())


def access_supply_job(department: Department, pk: int | None) -> SupplyJob:
    """One of the department's own supply jobs."""
    return _found(SupplyJob.objects.filter(pk=pk or 0, department=department).first())


def access_endpoint(department: Department, pk: int | None) -> Endpoint:
    """One of the department's own push endpoints."""
    return _found(Endpoint.objects.filter(pk=pk or 0, department=department).first())


def access_open_flag(department: Department, pk: int | None) -> ZombieFlag:
    """An open "unused subscription" flag on one of the department's own subscriptions."""
    return _found(
        ZombieFlag.objects.filter(pk=pk or 0, subscription__department=department, closed_on__isnull=True).first()
    )


def access_deliveries(department: Department) -> QuerySet[Delivery]:
    """The department's own deliveries (a replay chooses among these and no others)."""
    return Delivery.objects.filter(department=department)


def access_disputes(department: Department) -> QuerySet[Dispute]:
    """The disputes the department answers: those on fields it is (still) the source of."""
    return Dispute.objects.filter(source=department, field__source=department)


def access_dispute(department: Department, pk: int | None) -> Dispute:
    """One dispute the department answers; another department's, or one on a field it is no longer the source
    of, is a 404."""
    return _found(
        access_disputes(department)
        .select_related("unit__area", "field", "sheet", "source", "answered_by", "answer_version")
        .filter(pk=pk or 0)
        .first()
    )


def access_report_template(department: Department, pk: int | None) -> ReportTemplate:
    """One of the department's own report templates."""
    return _found(ReportTemplate.objects.filter(pk=pk or 0, department=department).first())


def access_report_job(department: Department, pk: int | None) -> ReportJob:
    """One of the department's own report jobs."""
    return _found(
        ReportJob.objects.select_related("template", "area").filter(pk=pk or 0, department=department).first()
    )


def access_unit_question(unit: Unit, pk: int | None) -> Question:
    """A question asked of this unit."""
    return _found(
        Question.objects.filter(pk=pk or 0, unit=unit).select_related("department", "field", "submission").first()
    )


def access_department_question(department: Department, pk: int | None) -> Question:
    """A question on a value the department receives (asked by it or by another department receiving it)."""
    return _found(department_question(department, pk))
