"""DHIS2 Web API operations under /dhis2/api/ (and /dhis2/api/<version>/): system info, the caller, metadata
(data sets, data elements, organisation units) and data value sets read and imported. Codes are the ids."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from collections.abc import Iterator
from typing import IO, Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from rest_framework.request import Request

from core.access import signed_in
from core.models import Area
from reporting.catalogue.periods import Period
from reporting.dhis2 import formats
from reporting.dhis2.reads import Caller, data_element, data_sets, department_values, org_unit, unit_values
from reporting.dhis2.web import DHIS2_VERSION, Dhis2Error, Dhis2View, web_message
from reporting.models import Field, Sheet, SupplyJob, SupplyJobStatus
from reporting.rejections import Problem
from reporting.services.dhis2 import ImportOutcome, import_data_values, job_conflict
from reporting.services.supplies import start_supply_job

MAX_PAGE_SIZE = 1000


def _json(body: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def _parameter(name: str, why_zh: str, why_en: str, *, status: int = 400, error_code: str = "E2000") -> Dhis2Error:
    """The parameter `name` refused, with why in Chinese and in English."""
    params = {"name": name, "why_zh": why_zh, "why_en": why_en}
    return Dhis2Error(status, Problem(field=name, rule="dhis2.parameter", params=params), error_code)


def _flag(params, name: str, default: bool = False) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise _parameter(name, "须为 true 或 false", "must be true or false")


class SystemInfoView(Dhis2View):
    def get(self, request: Request, **kwargs) -> HttpResponse:
        now = timezone.localtime()
        return _json(
            {
                "contextPath": request.build_absolute_uri("/dhis2").rstrip("/"),
                "userAgent": request.headers.get("User-Agent", ""),
                "calendar": "iso8601",
                "dateFormat": "yyyy-mm-dd",
                "serverDate": formats.stamp(now),
                "serverTimeZoneId": str(now.tzinfo),
                "serverTimeZoneDisplayName": str(now.tzinfo),
                "version": DHIS2_VERSION,
                "revision": "onetable",
                "buildTime": "2026-11-29T00:00:00.000",
                "systemName": "一表通 OneTable",
                "systemId": "onetable",
                "isMetadataVersionEnabled": False,
            }
        )


class MeView(Dhis2View):
    def get(self, request: Request, **kwargs) -> HttpResponse:
        caller = self.caller()
        user = signed_in(request.user)
        roots = [{"id": a.code, "code": a.code, "name": a.name} for a in caller.roots()]
        name = user.get_full_name() or user.username
        return _json(
            {
                "id": user.username,
                "username": user.username,
                "code": user.username,
                "name": name,
                "displayName": name,
                "firstName": user.first_name,
                "surname": user.last_name,
                "organisationUnits": roots,
                "dataViewOrganisationUnits": roots,
                "authorities": ["F_DATAVALUE_ADD", "F_DATAVALUE_DELETE"],
                "userRoles": [],
                "userGroups": [],
                "settings": {"keyUiLocale": "zh", "keyDbLocale": "zh"},
            }
        )


# ---------------------------------------------------------------- metadata


def _field_names(raw: str | None) -> list[str] | None:
    """The top-level names of a DHIS2 `fields` parameter (nested selections keep the whole object);
    None for every field (`*`, `:all`)."""
    if not raw:
        return ["id", "displayName"]
    names: list[str] = []
    depth, current = 0, ""
    for ch in raw:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            names.append(current.strip())
            current = ""
            continue
        if depth == 0 and ch not in "])":
            current += ch
    names.append(current.strip())
    names = [n.split("~")[0].split("::")[0] for n in names if n]
    if any(n in ("*", ":all", ":owner") for n in names):
        return None
    expanded = []
    for n in names:
        expanded += {":identifiable": ["id", "code", "name"], ":nameable": ["id", "code", "name", "shortName"]}.get(
            n, [n]
        )
    return expanded


def _matches(item: dict[str, Any], rule: str) -> bool:
    parts = rule.split(":", 2)
    if len(parts) < 2:
        raise _parameter("filter", "须为 属性:操作符:值", "must be property:operator:value")
    prop, op = parts[0], parts[1]
    value = parts[2] if len(parts) > 2 else ""
    have = item.get(prop)
    text = "" if have is None else str(have)
    if op == "eq":
        return text == value
    if op in ("ne", "!eq"):
        return text != value
    if op in ("in", "!in"):
        options = [v.strip() for v in value.strip("[]").split(",")]
        return (text in options) == (op == "in")
    if op in ("like", "ilike"):
        return value.lower() in text.lower()
    if op in ("!like", "!ilike"):
        return value.lower() not in text.lower()
    if op in ("null", "!null"):
        return (have is None) == (op == "null")
    if op in ("gt", "ge", "lt", "le"):
        try:
            left, right = float(text), float(value)
        except ValueError:
            return False
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    raise _parameter("filter", f"不支持的操作符 {op[:20]}", f"unsupported operator {op[:20]}")


def _date(raw: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise _parameter(name, "须为日期，格式为 年-月-日", "must be a date written YYYY-MM-DD") from None


def _whole(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise _parameter(name, f"须为 {low} 至 {high} 的整数", f"must be a whole number from {low} to {high}")
    return int(raw)


class MetadataView(Dhis2View):
    """A DHIS2 metadata collection (`collection`) of what the caller may see, with fields, filter and paging."""

    collection = ""

    def items(self, caller: Caller) -> list[dict[str, Any]]:
        fields = caller.fields()
        if self.collection == "dataSets":
            return data_sets(fields)
        if self.collection == "dataElements":
            return [data_element(f) for f in fields]
        return [org_unit(a) for a in caller.areas()]

    def get(self, request: Request, uid: str | None = None, **kwargs) -> HttpResponse:
        params = request.query_params
        items = self.items(self.caller())
        for rule in params.getlist("filter"):
            items = [i for i in items if _matches(i, rule)]
        names = _field_names(params.get("fields"))
        if uid is not None:
            found = next((i for i in items if i["id"] == uid), None)
            if found is None:
                return web_message(404, f"对象未找到 / object not found: {uid[:40]}")
            return _json(found if names is None or not params.get("fields") else _pick(found, names))
        paging = _flag(params, "paging", True)
        chosen = [i if names is None else _pick(i, names) for i in items]
        if not paging:
            return _json({self.collection: chosen})
        size = _whole(params, "pageSize", 50, 1, MAX_PAGE_SIZE)
        pages = max(1, -(-len(chosen) // size))
        page = _whole(params, "page", 1, 1, 1_000_000)
        pager: dict[str, Any] = {"page": page, "total": len(chosen), "pageSize": size, "pageCount": pages}
        if page < pages:
            pager["nextPage"] = self._page_url(request, page + 1)
        if page > 1:
            pager["prevPage"] = self._page_url(request, page - 1)
        return _json({"pager": pager, self.collection: chosen[(page - 1) * size : page * size]})

    @staticmethod
    def _page_url(request: Request, page: int) -> str:
        query = [(k, value) for k, values in request.query_params.lists() for value in values if k != "page"]
        query.append(("page", str(page)))
        return request.build_absolute_uri(request.path) + "?" + urlencode(query)


def _pick(item: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {n: item[n] for n in names if n in item}


class DataSetsView(MetadataView):
    collection = "dataSets"


class DataElementsView(MetadataView):
    collection = "dataElements"


class OrganisationUnitsView(MetadataView):
    collection = "organisationUnits"


# ---------------------------------------------------------------- data values


def _id_scheme(params) -> None:
    for name in ("idScheme", "dataElementIdScheme", "orgUnitIdScheme", "dataSetIdScheme"):
        scheme = (params.get(name) or "CODE").upper()
        if scheme != "CODE":
            raise Dhis2Error(409, Problem(field=name, rule="dhis2.id_scheme", params={"scheme": scheme[:20]}), "E7600")


def _format(request: Request, ext: str | None, *, posting: bool) -> str:
    if ext:
        return {"json": "json", "csv": "csv", "adx": "adx", "xml": "adx"}[ext]
    header = (request.content_type if posting else request.headers.get("Accept", "")) or ""
    if "csv" in header:
        return "csv"
    if "xml" in header:
        return "adx"
    return "json"


class DataValueSetsView(Dhis2View):
    def get(self, request: Request, ext: str | None = None, **kwargs) -> HttpResponse | StreamingHttpResponse:
        caller = self.caller()
        params = request.query_params
        _id_scheme(params)
        fmt = _format(request, ext, posting=False)
        by_code = {f.code: f for f in caller.fields()}
        sheets = self._sheets(params, by_code)
        periods, first, last = self._periods(params, sheets)
        areas = self._org_units(params, caller)
        children = _flag(params, "children")

        def values() -> Iterator[formats.OutValue]:
            for sheet, area in itertools.product(sheets, areas):
                fields = {c: f for c, f in by_code.items() if f.sheet_id == sheet.pk}
                if caller.department is not None:
                    yield from department_values(
                        caller.department,
                        sheet,
                        fields,
                        periods=periods,
                        first=first,
                        last=last,
                        area=area,
                        children=children,
                    )
                elif caller.unit is not None:
                    yield from unit_values(caller.unit, sheet, fields, periods=periods, first=first, last=last)

        if fmt == "csv":
            return StreamingHttpResponse(formats.csv_chunks(values()), content_type="application/csv; charset=utf-8")
        if fmt == "adx":
            return StreamingHttpResponse(
                formats.adx_chunks(values(), timezone.now()), content_type="application/adx+xml; charset=utf-8"
            )
        return StreamingHttpResponse(formats.json_chunks(values()), content_type="application/json; charset=utf-8")

    @staticmethod
    def _sheets(params, by_code: dict[str, Field]) -> list[Sheet]:
        codes = params.getlist("dataSet")
        if not codes:
            raise _parameter("dataSet", "必填", "it is required", status=409, error_code="E2001")
        visible = {f.sheet.code: f.sheet for f in by_code.values()}
        for code in codes:
            if code not in visible:
                raise Dhis2Error(
                    409, Problem(field="dataSet", rule="dhis2.unknown_data_set", params={"code": code[:40]}), "E2010"
                )
        return [visible[c] for c in dict.fromkeys(codes)]

    @staticmethod
    def _periods(params, sheets: list[Sheet]) -> tuple[list[Period] | None, Period | None, Period | None]:
        texts = params.getlist("period")
        start, end = params.get("startDate"), params.get("endDate")
        if texts:
            periods = []
            for text in texts:
                period = formats.parse_period(text)
                if period is None:
                    raise Dhis2Error(
                        409, Problem(field="period", rule="dhis2.period", params={"period": text[:40]}), "E2014"
                    )
                periods.append(period)
            ordered = sorted(periods, key=lambda p: (p.start, p.end))
            return periods, ordered[0], ordered[-1]
        if not (start and end):
            why_zh, why_en = "须给出报告期或起止日期", "give a period or start and end dates"
            raise _parameter("period", why_zh, why_en, status=409, error_code="E2002")
        first_day, last_day = _date(start, "startDate"), _date(end, "endDate")
        if first_day > last_day:
            raise _parameter("startDate", "不能晚于 endDate", "must not be after endDate")
        chosen: list[Period] = []
        for sheet in sheets:
            period = Period.containing(first_day, sheet.period_type)
            while period.start <= last_day and len(chosen) < 5000:
                if period.start >= first_day and period.end <= last_day:
                    chosen.append(period)
                period = period.next()
        if not chosen:
            return [], None, None
        ordered = sorted(chosen, key=lambda p: (p.start, p.end))
        return chosen, ordered[0], ordered[-1]

    @staticmethod
    def _org_units(params, caller: Caller) -> list[Area]:
        codes = params.getlist("orgUnit")
        if not codes:
            raise _parameter("orgUnit", "必填", "it is required", status=409, error_code="E2006")
        visible = {a.code: a for a in caller.areas().filter(code__in=codes)}
        for code in codes:
            if code not in visible:  # unknown and outside the caller's areas look the same
                raise Dhis2Error(
                    409, Problem(field="orgUnit", rule="dhis2.unknown_org_unit", params={"code": code[:40]}), "E2012"
                )
        return [visible[c] for c in dict.fromkeys(codes)]

    def post(self, request: Request, ext: str | None = None, **kwargs) -> HttpResponse:
        caller = self.caller()
        params = request.query_params
        dry_run = _flag(params, "dryRun")
        strategy = (params.get("importStrategy") or "CREATE_AND_UPDATE").upper()
        if strategy not in ("CREATE_AND_UPDATE", "CREATE", "UPDATE", "NEW_AND_UPDATES", "UPDATES", "DELETE", "DELETES"):
            why_zh, why_en = "须为 CREATE_AND_UPDATE 或 DELETE", "must be CREATE_AND_UPDATE or DELETE"
            raise _parameter("importStrategy", why_zh, why_en)
        atomic_mode = (params.get("atomicMode") or "ALL").upper()
        if atomic_mode not in ("ALL", "NONE"):
            raise _parameter("atomicMode", "须为 ALL 或 NONE", "must be ALL or NONE")
        _flag(params, "async")
        fmt = _format(request, ext, posting=True)
        try:
            _id_scheme(params)
        except Dhis2Error as error:
            return _summary(ImportOutcome(conflicts=[]), [_scheme_conflict(error.problem)], dry_run, strategy)
        length = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        large = limit is not None and length.isdigit() and int(length) > limit
        if large and caller.department is not None and not strategy.startswith("DELETE"):
            # a register too large to hold in memory: streamed to a file and imported by a worker
            name = {"json": "dhis2-json", "csv": "dhis2-csv", "adx": "adx"}[fmt]
            stream = cast(
                "IO[bytes]", request._request
            )  # HttpRequest.read() streams the body, unlimited by .body's cap
            return _job_reference(request, caller, stream, name, atomic_mode == "ALL", dry_run)
        try:
            body = request._request.body
        except RequestDataTooBig:
            return web_message(413, "数据过大 / the body is too large; send it in parts")
        reader = {"json": formats.read_json, "csv": formats.read_csv, "adx": formats.read_adx}[fmt]
        try:
            values = reader(body)
        except Problem as problem:
            return web_message(
                400, problem.message, rule=problem.rule, message_zh=problem.message_zh, message_en=problem.message_en
            )
        if _flag(params, "async") and caller.department is not None and not any(v.disaggregation() for v in values):
            return _queue(request, caller, body, fmt, values, strategy, atomic_mode == "ALL", dry_run)
        outcome = import_data_values(
            user=request.user,  # type: ignore[arg-type]
            department=caller.department,
            unit=caller.unit,
            values=values,
            delete=strategy.startswith("DELETE"),
            atomic=atomic_mode == "ALL",
            dry_run=dry_run,
        )
        return _summary(outcome, [c.as_dict() for c in outcome.conflicts], dry_run, strategy, outcome.warnings)


def _queue(
    request: Request,
    caller: Caller,
    body: bytes,
    fmt: str,
    values: list[formats.DataValue],
    strategy: str,
    atomic: bool,
    dry_run: bool,
) -> JsonResponse:
    """`async=true`: keep the body as a supply job and answer with DHIS2's job reference."""
    assert caller.department is not None
    name = {"json": "dhis2-json", "csv": "dhis2-csv", "adx": "adx"}[fmt]
    if strategy.startswith("DELETE"):  # the job's reader knows no strategy: each value says it is deleted
        rows = [
            {"dataElement": v.data_element, "period": v.period, "orgUnit": v.org_unit, "deleted": True} for v in values
        ]
        body, name = json.dumps({"dataValues": rows}).encode(), "dhis2-json"
    return _job_reference(request, caller, io.BytesIO(body), name, atomic, dry_run)


def _job_reference(
    request: Request, caller: Caller, body: IO[bytes], name: str, atomic: bool, dry_run: bool
) -> JsonResponse:
    assert caller.department is not None
    job = start_supply_job(
        department=caller.department,
        by=signed_in(request.user),
        format=name,
        body=body,
        options={"atomic": atomic, "dry_run": dry_run},
    )
    return web_message(
        200,
        "Initiated DATAVALUE_IMPORT",
        response={
            "responseType": "JobConfigurationWebMessageResponse",
            "name": "DATAVALUE_IMPORT",
            "id": str(job.pk),
            "created": formats.stamp(job.created_at),
            "jobType": "DATAVALUE_IMPORT",
            "relativeNotifierEndpoint": f"/api/system/tasks/DATAVALUE_IMPORT/{job.pk}",
        },
    )


def _job(caller: Caller, pk: str) -> SupplyJob:
    """The caller's own supply job; anyone else's (or a unit asking) is a 404."""
    job = SupplyJob.objects.filter(pk=int(pk), department=caller.department).first() if caller.department else None
    if job is None:
        raise Http404
    return job


class TaskView(Dhis2View):
    """DHIS2's notifications of a data value import job: the newest first, `completed` once it has ended."""

    def get(self, request: Request, pk: str, **kwargs) -> HttpResponse:
        job = _job(self.caller(), pk)
        ended = job.status in (SupplyJobStatus.DONE, SupplyJobStatus.FAILED)
        moment = job.finished_at or job.created_at
        message = {
            SupplyJobStatus.QUEUED: "Import queued",
            SupplyJobStatus.RUNNING: "Importing data values",
            SupplyJobStatus.DONE: "Import done",
            SupplyJobStatus.FAILED: f"Import failed: {job.error}",
        }[SupplyJobStatus(job.status)]
        notification = {
            "uid": f"{job.pk}-{job.status}",
            "level": "ERROR" if job.status == SupplyJobStatus.FAILED else "INFO",
            "category": "DATAVALUE_IMPORT",
            "time": formats.stamp(moment),
            "message": message,
            "completed": ended,
            "id": str(job.pk),
        }
        return JsonResponse([notification], safe=False, json_dumps_params={"ensure_ascii": False})


class TaskSummaryView(Dhis2View):
    """The job's import summary once it has ended (before that, an empty object, as DHIS2 answers)."""

    def get(self, request: Request, pk: str, **kwargs) -> HttpResponse:
        job = _job(self.caller(), pk)
        if job.status not in (SupplyJobStatus.DONE, SupplyJobStatus.FAILED):
            return _json({})
        summary = job.summary or {}
        outcome = ImportOutcome(
            imported=summary.get("imported", 0),
            updated=summary.get("updated", 0),
            ignored=summary.get("ignored", 0) + len(summary.get("conflicts", [])),
            deleted=summary.get("deleted", 0),
        )
        conflicts = [job_conflict(c) for c in summary.get("conflicts", [])]
        if conflicts and job.options.get("atomic", True):
            outcome.imported = outcome.updated = outcome.deleted = 0
        answer = _summary(outcome, conflicts, bool(job.options.get("dry_run")), "CREATE_AND_UPDATE").content
        return _json(json.loads(answer)["response"])


def _scheme_conflict(problem: Problem) -> dict[str, Any]:
    return {
        "object": problem.field,
        "objects": {"idScheme": problem.field},
        "value": problem.message,
        "errorCode": "E7600",
        "property": problem.field,
        "indexes": [],
        "rule": problem.rule,
        "message_zh": problem.message_zh,
        "message_en": problem.message_en,
    }


def _summary(
    outcome: ImportOutcome,
    conflicts: list[dict[str, Any]],
    dry_run: bool,
    strategy: str,
    warnings: list[dict[str, Any]] | None = None,
) -> JsonResponse:
    """DHIS2's import summary in a web message: 200 and SUCCESS, or 409 with WARNING (some stored) or ERROR.
    Warnings of rules and plausibility refuse nothing: alone, they make a 200 with WARNING, listed among the
    conflicts (marked `"warning": true`) where DHIS2 clients look, and never among the rejected indexes."""
    done = outcome.imported + outcome.updated + outcome.deleted
    warnings = warnings or []
    if not conflicts and warnings:
        status, http, message = "WARNING", 200, "Import was successful; some values need an explanation."
    elif not conflicts:
        status, http, message = "SUCCESS", 200, "Import was successful."
    elif done:
        status, http, message = "WARNING", 409, "One more conflicts encountered, please check import summary."
    else:
        status, http, message = "ERROR", 409, "One more conflicts encountered, please check import summary."
    response = {
        "responseType": "ImportSummary",
        "status": status,
        "importOptions": {"dryRun": dry_run, "importStrategy": strategy, "idSchemes": {"idScheme": "CODE"}},
        "description": "Import process completed successfully" if not conflicts else "Import process completed",
        "importCount": {
            "imported": outcome.imported,
            "updated": outcome.updated,
            "ignored": outcome.ignored,
            "deleted": outcome.deleted,
        },
        "conflicts": conflicts + warnings,
        "rejectedIndexes": sorted({i for c in conflicts for i in c.get("indexes", [])}),
        "dataSetComplete": "false",
    }
    return web_message(http, message, status="OK" if status == "SUCCESS" else status, response=response)
