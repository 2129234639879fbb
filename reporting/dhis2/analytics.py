"""`GET /dhis2/api/analytics`: aggregates in DHIS2's analytics shape, from the roll-up engine.

`dimension=dx:<field or indicator codes;…>`, `dimension=pe:<periods;…>`, `dimension=ou:<area codes;…>[;LEVEL-n]`
(each of dx, pe, ou once, as a dimension or as a `filter=` with one item; DHIS2's levels count from 1, the
province). The answer: `headers` (the dimensions in the order asked, then `value`), `metaData` (`items` with
names, `dimensions` with the items of each dimension; left out with `skipMeta=true`), `rows` (one per cell with a
published value; the value as text, as DHIS2 writes it), `height`, `width`, `headerWidth`.

Only a department reads analytics, and only what the aggregates API would answer it (its one rule,
`aggregate_subscriptions`: a unit-level subscription to the field — an indicator: to it or every field it reads —,
or an aggregate-only one at the level asked or below, of the kind granted; its scope containing the area, its
window holding the period), areas inside its jurisdiction. Cells the engine suppresses (and cells with no value)
are left out of the rows, as DHIS2 leaves out cells without data; their coverage is not shown here (read it from
`/api/v1/aggregates`). Each unit whose value went into a published cell gets the aggregates API's one access
record per department, field and period. A bad dimension is DHIS2's 409 conflict, naming the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.http import HttpResponse, JsonResponse
from rest_framework.request import Request

from core.models import Area, AreaLevel, Department
from core.replica import on_replica
from reporting.catalogue.periods import Period, PeriodError
from reporting.dhis2.web import Dhis2Error, Dhis2View
from reporting.models import Field, Indicator, Status
from reporting.reads import aggregate_subscriptions, indicator_rollups, rollups
from reporting.reads.aggregate_subscriptions import field_entitlement, indicator_entitlement
from reporting.rejections import Problem, Problems

MAX_ITEMS = 50  # items per dimension; a larger query is a conflict, never a long wait
_COLUMNS = {"dx": "Data", "pe": "Period", "ou": "Organisation unit"}


def _conflict(rule: str, error_code: str, **params: Any) -> Dhis2Error:
    return Dhis2Error(409, Problem(field="dimension", rule=rule, params=params), error_code)


@dataclass
class Dimensions:
    order: list[str]  # the dimensions shown as columns, in the order asked
    dx: list[str]
    pe: list[str]
    ou: list[str]
    level: int | None  # DHIS2's level (1 = province), or None: each area itself


def parse_dimensions(params) -> Dimensions:
    found: dict[str, list[str]] = {}
    order: list[str] = []
    for kind in ("dimension", "filter"):
        for raw in params.getlist(kind):
            name, sep, items = str(raw).partition(":")
            if name not in _COLUMNS or not sep:
                raise _conflict("dhis2.dimension", "E7125", dimension=str(raw)[:40])
            if name in found:
                raise _conflict("dhis2.dimension_twice", "E7126", dimension=name)
            values = [item.strip() for item in items.split(";") if item.strip()]
            if not values or len(values) > MAX_ITEMS:
                raise _conflict("dhis2.dimension", "E7124", dimension=name)
            if kind == "filter" and len([v for v in values if not v.startswith("LEVEL-")]) != 1:
                raise _conflict("dhis2.filter", "E7127", dimension=name)
            found[name] = values
            if kind == "dimension":
                order.append(name)
    for name in _COLUMNS:
        if name not in found:
            raise _conflict(
                "dhis2.dimension_missing", {"dx": "E7102", "pe": "E7104", "ou": "E7105"}[name], dimension=name
            )
    level = None
    ou = []
    for item in found["ou"]:
        if item.startswith("LEVEL-"):
            text = item.removeprefix("LEVEL-")
            if level is not None or not text.isdigit() or not 1 <= int(text) <= len(AreaLevel.values):
                raise _conflict("dhis2.dimension", "E7143", dimension="ou")
            level = int(text)
        else:
            ou.append(item)
    if not ou:
        raise _conflict("dhis2.dimension", "E7124", dimension="ou")
    return Dimensions(
        order, list(dict.fromkeys(found["dx"])), list(dict.fromkeys(found["pe"])), list(dict.fromkeys(ou)), level
    )


def _shown(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@on_replica()  # the roll-ups on the replica; who may read them and the access records on the primary
def read(department: Department, dims: Dimensions, display: str = "NAME") -> dict[str, Any]:
    fields = {f.code: f for f in Field.objects.filter(code__in=dims.dx).select_related("sheet", "rollup_of__sheet")}
    indicators = {i.code: i for i in Indicator.objects.filter(code__in=dims.dx, status=Status.ACTIVE)}
    areas = {a.code: a for a in Area.objects.filter(code__in=dims.ou)}
    for code in dims.ou:
        if code not in areas or not department.jurisdiction.contains(areas[code]):
            raise _conflict("dhis2.unknown_org_unit", "E7124", code=code[:40])
    periods = []
    for text in dims.pe:
        try:
            periods.append(Period.parse(text, strict=True))
        except PeriodError:
            raise _conflict("dhis2.period", "E7124", period=text[:40]) from None
    for code in dims.dx:
        if code not in fields and code not in indicators:
            raise _conflict("dhis2.analytics_item", "E7124", code=code[:40])
    held = aggregate_subscriptions.held(department)
    rows: list[list[str]] = []
    names: dict[str, str] = {}
    shown_ou: list[str] = []
    for code in dims.dx:
        for period in periods:
            for root in (areas[c] for c in dims.ou):
                level = AreaLevel.values[dims.level - 1] if dims.level else root.level
                try:
                    cells, subscription, query = _cells(department, code, fields, indicators, period, root, level, held)
                except Problems as refused:
                    problem = refused.problems[0]
                    raise Dhis2Error(409, problem, "E7124") from None
                if subscription is None:
                    raise _conflict("dhis2.analytics_item", "E7124", code=code[:40])
                for cell in cells:
                    if cell.suppressed or cell.value is None:
                        continue
                    rows.append([code, str(period), cell.area, _shown(cell.value)])
                    names[cell.area] = cell.name
                    if cell.area not in shown_ou:
                        shown_ou.append(cell.area)
                _record(department, subscription, code, fields, query, cells)
    columns = dims.order
    index = {"dx": 0, "pe": 1, "ou": 2}
    body_rows = [[row[index[c]] for c in columns] + [row[3]] for row in rows]
    headers = [
        {
            "name": c,
            "column": _COLUMNS[c],
            "valueType": "TEXT",
            "type": "java.lang.String",
            "hidden": False,
            "meta": True,
        }
        for c in columns
    ] + [
        {
            "name": "value",
            "column": "Value",
            "valueType": "NUMBER",
            "type": "java.lang.Double",
            "hidden": False,
            "meta": False,
        }
    ]
    answer: dict[str, Any] = {"headers": headers}
    items: dict[str, dict[str, str]] = {c: {"name": _COLUMNS[c]} for c in _COLUMNS}
    for code in dims.dx:
        entry = fields.get(code) or indicators[code]
        items[code] = {"name": entry.name_zh if display != "SHORTNAME" else entry.name_zh[:50]}
    for period in periods:
        items[str(period)] = {"name": str(period.label())}
    for code in dims.ou:
        items[code] = {"name": areas[code].name}
    items |= {code: {"name": name} for code, name in names.items()}
    answer["metaData"] = {
        "items": items,
        "dimensions": {"dx": dims.dx, "pe": [str(p) for p in periods], "ou": shown_ou, "co": []},
    }
    answer |= {"rows": body_rows, "height": len(body_rows), "width": len(headers), "headerWidth": len(headers)}
    return answer


def _cells(department, code, fields, indicators, period, root, level, held):
    """The item's roll-ups at `level` inside `root`, where the department may read them (the aggregates API's
    rule, `aggregate_subscriptions`): (cells, subscription, query), or ([], None, None)."""
    if code in fields:
        field = fields[code]
        subscription = field_entitlement(department, field, root, period, level, subscriptions=held)
        if subscription is None:
            return [], None, None
        query = rollups.prepare(field, period, root, level)
        return rollups.run(query), subscription, query
    indicator = indicators[code]
    subscription = indicator_entitlement(department, indicator, root, period, level, subscriptions=held)
    if subscription is None:
        return [], None, None
    iquery = indicator_rollups.prepare(indicator, period, root, level)
    return indicator_rollups.run(iquery), subscription, iquery


def _record(department, subscription, code, fields, query, cells) -> None:
    if isinstance(query, rollups.RollupQuery):
        rollups.record_aggregate_access(
            department_id=department.pk, subscription_id=subscription, query=query, items=cells
        )
    else:
        indicator_rollups.record_access(
            department_id=department.pk, subscription_id=subscription, query=query, items=cells
        )


class AnalyticsView(Dhis2View):
    def get(self, request: Request, **kwargs) -> HttpResponse:
        caller = self.caller()
        if caller.department is None:
            return JsonResponse(
                {"httpStatus": "Not Found", "httpStatusCode": 404, "status": "ERROR", "message": "未找到 / not found"},
                status=404,
            )
        dims = parse_dimensions(request.query_params)
        skip = str(request.query_params.get("skipMeta", "false")).lower() == "true"
        display = str(request.query_params.get("displayProperty", "NAME")).upper()
        answer = read(caller.department, dims, display)
        if skip:
            answer.pop("metaData")
        return JsonResponse(answer, json_dumps_params={"ensure_ascii": False})
