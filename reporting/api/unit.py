"""REST API for units that file from their own systems: the one table, submissions, corrections."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_own_unit, signed_in
from core.problems import error_body
from reporting.access import access_unit_sheet, access_unit_submission
from reporting.api.error_handlers import not_found, problem_response, refusal_body, refusal_status
from reporting.api.inputs import CorrectionIn, OneTableQuery, SubmissionIn, SubmissionsQuery
from reporting.api.schemas import ErrorOut, SubmissionDetailOut, SubmissionListOut, SubmissionOut
from reporting.catalogue.periods import Period
from reporting.filing import idempotency
from reporting.filing.offline import form_version
from reporting.filing.onetable import Claims, DueCalendar, OneTable, TableField, build_one_table, filing_table
from reporting.filing.origins import origins
from reporting.models import Sheet, Submission, SubmissionVersion
from reporting.params import whole_number
from reporting.reads.selectors import changed_meanwhile, current_versions
from reporting.rejections import Problem, Problems
from reporting.services.submissions import (
    AlreadySubmitted,
    VersionConflict,
    add_record,
    correct_submission,
    submit_sheet,
)


def table_json(table: OneTable, due_on: Any) -> dict[str, Any]:
    return {
        "sheet": table.sheet.code,
        "name_zh": table.sheet.name_zh,
        "name_en": table.sheet.name_en,
        "cadence": table.sheet.cadence,
        "period": str(table.period),
        "due_on": due_on.isoformat() if due_on else None,
        "departments": len(table.departments),
        # send it back as `form` with a filing made from this table later (offline): a changed form refuses it
        "form": form_version(table),
        "fields": [
            {
                "code": e.code,
                "name_zh": e.field.name_zh,
                "name_en": e.field.name_en,
                "type": e.field.type,
                "unit_of_measure": e.field.unit_of_measure,
                "required": e.field.required,
                "allow_not_applicable": e.allow_na,
                "stable": e.field.stable,
                "schema": e.field.field_type.json_schema(e.field.constraints),
                "constraints": e.field.constraints,
                "carried": {"value": e.carried, "period": e.carried_from} if e.has_carried else None,
                "register": _register_json(e),
                # what the entry comes pre-filled with: "register", "carried" or null; null for a field with a
                # source means a gap (the register has no value: type it)
                "origin": e.shows or None,
                "source": e.field.source.code if e.field.source is not None else None,
                "departments": len(e.department_ids),
            }
            for e in table.fields
        ],
    }


def _register_json(entry: TableField) -> dict[str, Any] | None:
    register = entry.register
    if register is None:
        return None
    return {
        "value": register.value,
        "source": register.source.code,
        "source_name": register.source.name,
        "supplied_on": register.supplied_on.isoformat(),
    }


def version_json(submission: Submission, version: SubmissionVersion) -> dict[str, Any]:
    return {
        "id": submission.pk,
        "sheet": submission.sheet.code,
        "period": submission.period,
        "record_key": str(submission.record_key) if submission.record_key else None,
        "record_date": submission.record_date.isoformat() if submission.record_date else None,
        "version": version.number,
        "current_version": submission.current_version,
        "values": version.values,
        "not_applicable": version.not_applicable,
        "carried": version.carried,
        "confirmed": version.confirmed,
        "disputed": version.disputed,
        "gaps": version.gaps,
        "origins": origins(
            source_id=submission.source_id,
            values=version.values,
            carried=version.carried,
            confirmed=version.confirmed,
            disputed=version.disputed,
        ),
        "reason": version.reason,
        # the warnings filing raised (a rule, or a value implausible for the unit) and their explanations;
        # a warning never refuses a filing here: explain it with `explanations` now or in a correction
        "warnings": version.explanations,
        "unexplained": sorted(key for key, w in version.explanations.items() if not w.get("text")),
        "at": version.at.isoformat(),
        "counts": {
            "typed": version.typed_count,
            "carried": version.carried_count,
            "not_applicable": version.na_count,
            "confirmed": version.confirmed_count,
            "disputed": version.disputed_count,
            "departments": version.department_count,
            "refills_spared": version.refills_spared,
        },
    }


def _etag(version: int) -> str:
    return f'"{version}"'


def _etag_of(code: int, body: Any) -> dict[str, str]:
    created = code == status.HTTP_201_CREATED and isinstance(body, dict) and "version" in body
    return {"ETag": _etag(body["version"])} if created else {}


def _once(request: Request, key: str, fingerprint: str, work: Any) -> Response:
    """`work` (a filing or a correction: its status and body) done once per Idempotency-Key
    (`idempotency.run_once`): a repeat gets the first answer, marked replayed; the key reused for another request is
    422, one still being answered 409."""
    try:
        answer = idempotency.run_once(user=signed_in(request.user), key=key, fingerprint=fingerprint, work=work)
    except idempotency.KeyReused:
        return problem_response([Problem(field="Idempotency-Key", rule="idempotency.reused")], 422)
    except idempotency.KeyInFlight:
        return problem_response([Problem(field="Idempotency-Key", rule="idempotency.in_flight")], 409)
    headers = _etag_of(answer.status, answer.body)  # a replayed 201 carries its version's ETag as the first did
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(answer.body, status=answer.status, headers=headers)


class OneTableView(APIView):
    @extend_schema(
        summary="The unit's one table for a period: the sheets open for filing then (400 period.not_open if none)",
        operation_id="unit_one_table",
        parameters=[OneTableQuery],
        responses={
            200: inline_serializer(
                "OneTable",
                {"unit": serializers.CharField(), "period": serializers.CharField(), "sheets": serializers.ListField()},
            ),
            400: ErrorOut,
        },
    )
    def get(self, request: Request) -> Response:
        unit = access_own_unit(request.user)
        period = Period.parse(OneTableQuery.parse(request.query_params)["period"])
        claims = Claims(unit)
        sheets = [
            s
            for s in Sheet.objects.filter(pk__in=claims.by_sheet.keys()).order_by("order")
            if s.period_type == period.type
        ]
        tables, refused = [], []
        calendar = DueCalendar(sheets, {str(period)})  # read once, for every sheet's filing window and due date
        for sheet in sheets:
            if sheet.is_ledger:  # its records' dates are checked when each is filed
                table = build_one_table(unit=unit, sheet=sheet, period=period, claims=claims)
            else:
                try:  # the rule that decides filing decides what is offered to be filed
                    table = filing_table(unit=unit, sheet=sheet, period=period, calendar=calendar)
                except Problems as error:
                    refused += error.problems
                    continue
            if table:
                tables.append(table)
        if refused and not tables:
            return Response(refusal_body(refused), status=refusal_status(refused))
        return Response(
            {
                "unit": unit.area.code,
                "period": str(period),
                "sheets": [
                    table_json(t, None if t.sheet.is_ledger else calendar.due_on(t.sheet, period)) for t in tables
                ],
            }
        )


LISTED = 500  # the newest submissions the list shows


class SubmissionsView(APIView):
    @extend_schema(
        summary="The unit's submissions and ledger records",
        operation_id="unit_submissions_list",
        responses={200: SubmissionListOut},
        parameters=[SubmissionsQuery],
    )
    def get(self, request: Request) -> Response:
        unit = access_own_unit(request.user)
        query = SubmissionsQuery.parse(request.query_params)
        picked = Submission.objects.by_units().filter(unit=unit)
        if query.get("sheet"):
            picked = picked.filter(sheet__code=query["sheet"])
        if query.get("period"):
            picked = picked.filter(period=query["period"])
        # the newest 500 submissions first, then their versions in those submissions' years only
        rows = current_versions(list(picked.select_related("sheet").order_by("-period", "-id")[:LISTED]))
        return Response({"results": [version_json(v.submission, v) for v in rows]})

    @extend_schema(
        summary="File a sheet for a period, or add a ledger record (needs an Idempotency-Key header)",
        operation_id="unit_submissions_create",
        responses={201: SubmissionOut, 400: ErrorOut, 409: ErrorOut, 422: ErrorOut},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
        request=SubmissionIn,
    )
    def post(self, request: Request) -> Response:
        unit = access_own_unit(request.user)
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 200:
            return problem_response([Problem(field="Idempotency-Key", rule="idempotency.missing")])

        def work() -> tuple[int, Any]:
            try:
                version = self._file(unit, request.user, request.data)
            except Problems as error:  # the filing's savepoint undid its writes; a repeat gets the same answer
                return refusal_status(error.problems), refusal_body(error.problems)
            except AlreadySubmitted as error:  # an answer too, stored with the key: filed already, correct it
                return status.HTTP_409_CONFLICT, error_body([error.problem])
            return status.HTTP_201_CREATED, version_json(version.submission, version)

        return _once(request, key, idempotency.request_hash(request.path, request.data), work)

    @staticmethod
    def _file(unit, user, body: Any) -> SubmissionVersion:
        body = SubmissionIn.parse(body)
        try:
            sheet = access_unit_sheet(unit, body["sheet"])
        except Http404:
            raise Problems([Problem(field="sheet", rule="sheet.not_in_table")]) from None
        values, na = body["values"], body.get("not_applicable", {})
        if sheet.is_ledger:
            return add_record(
                unit=unit, sheet=sheet, raw=values, not_applicable=na, by=user, filled_on=body.get("form")
            )
        if "period" not in body:
            raise Problems([Problem(field="period", rule="required")])
        period = Period.parse(body["period"])
        return submit_sheet(
            unit=unit,
            sheet=sheet,
            period=period,
            raw=values,
            not_applicable=na,
            by=user,
            disputes=body.get("disputes", {}),
            explanations=body.get("explanations", {}),
            filled_on=body.get("form"),
        )


class SubmissionView(APIView):
    @extend_schema(
        summary="One submission: its current version (ETag) and its history",
        operation_id="unit_submission",
        responses={200: SubmissionDetailOut, 404: ErrorOut},
    )
    def get(self, request: Request, pk: int) -> Response:
        unit = access_own_unit(request.user)
        submission = access_unit_submission(unit, pk)
        versions = list(SubmissionVersion.objects.of(submission).order_by("number"))
        body = version_json(submission, versions[-1])
        body["versions"] = [{"number": v.number, "at": v.at.isoformat(), "reason": v.reason} for v in versions]
        return Response(body, headers={"ETag": _etag(submission.current_version)})


class VersionView(APIView):
    @extend_schema(
        summary="One version of a submission, as it was filed",
        operation_id="unit_submission_version",
        responses={200: SubmissionOut, 404: ErrorOut},
    )
    def get(self, request: Request, pk: int, number: int) -> Response:
        unit = access_own_unit(request.user)
        submission = access_unit_submission(unit, pk)
        version = SubmissionVersion.objects.of(submission).filter(number=number).first()
        if version is None:
            return not_found()
        return Response(version_json(submission, version))


class CorrectionsView(APIView):
    @extend_schema(
        summary="Correct a submission: a new version (needs If-Match with the current version; an Idempotency-Key "
        "makes a retry safe)",
        operation_id="unit_submission_correct",
        responses={201: SubmissionOut, 400: ErrorOut, 409: ErrorOut, 412: ErrorOut, 422: ErrorOut, 428: ErrorOut},
        parameters=[
            OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="the same correction sent again under its key gets the first answer, not a 412",
            ),
        ],
        request=CorrectionIn,
    )
    def post(self, request: Request, pk: int) -> Response:
        unit = access_own_unit(request.user)
        submission = access_unit_submission(unit, pk)
        if_match = request.headers.get("If-Match", "").strip()
        if not if_match:
            return problem_response([Problem(field="If-Match", rule="if_match.missing")], 428)
        # RFC 9110 13.1.1: If-Match compares strongly, so a weak tag (W/"2") matches no version: 412 naming the current
        expected = None if if_match.startswith("W/") else whole_number(if_match.strip('"'))
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 200:
            return problem_response([Problem(field="Idempotency-Key", rule="idempotency.missing")])

        def work() -> tuple[int, Any]:
            try:
                version = self._correct(submission, request.user, request.data, -1 if expected is None else expected)
            except Problems as error:  # the correction's savepoint undid its writes; a repeat gets the same answer
                return refusal_status(error.problems), refusal_body(error.problems)
            return status.HTTP_201_CREATED, version_json(version.submission, version)

        # a stale If-Match is a race, not an answer: its 412 is not stored with the key (the claim rolls back with
        # it), so the same key is free for the same correction sent again after reading the current version
        try:
            if not key:  # a client without keys: corrected (or refused) as before, If-Match alone guards a repeat
                code, body = work()
                return Response(body, status=code, headers=_etag_of(code, body))
            return _once(request, key, idempotency.request_hash(request.path, if_match, request.data), work)
        except VersionConflict as conflict:
            problem = Problem(field="If-Match", rule="if_match.mismatch", params={"current": conflict.current})
            # what the newer version changed since the one the correction was typed on: the client shows it beside
            # the values it kept, so sending them again is a decision, not a silent undo
            current = SubmissionVersion.objects.current_of(submission).get()
            changed = [
                {"field": c.code, "before": c.before, "current": c.after}
                for c in changed_meanwhile(submission, expected, current)
            ]
            return problem_response([problem], 412, current_version=conflict.current, changed=changed)

    @staticmethod
    def _correct(submission: Submission, user, body: Any, expected: int) -> SubmissionVersion:
        body = CorrectionIn.parse(body)
        return correct_submission(
            submission=submission,
            raw=body["values"],
            not_applicable=body.get("not_applicable", {}),
            reason=body["reason"],
            by=signed_in(user),
            expected_version=expected,
            disputes=body.get("disputes", {}),
            explanations=body.get("explanations", {}),
            filled_on=body.get("form"),
        )
