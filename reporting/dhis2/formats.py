"""DHIS2's data value formats: periods in DHIS2 and ADX notation, data value sets read from JSON, CSV and ADX
bodies, and written back as JSON, CSV and ADX a value at a time (constant memory)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from django.utils import timezone
from lxml import etree

from reporting.catalogue.periods import Period, PeriodError, PeriodType
from reporting.rejections import Problem, unstorable

ADX_NS = "urn:ihe:qrph:adx:2015"
DEFAULT_COMBO = ("", "default")
# DHIS2's CSV columns, in its order (a header row is optional on import)
CSV_COLUMNS = [
    "dataelement",
    "period",
    "orgunit",
    "catoptcombo",
    "attroptcombo",
    "value",
    "storedby",
    "lastupdated",
    "comment",
    "followup",
    "deleted",
]
_ADX_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})-01/P(1M|3M|1Y)$")
_DURATION = {PeriodType.MONTHLY: "P1M", PeriodType.QUARTERLY: "P3M", PeriodType.YEARLY: "P1Y"}


def onetable_period(text: str) -> str:
    """A DHIS2 or ADX period as OneTable writes it ("2026-10-01/P3M" → "2026Q4"); anything else unchanged, for
    `Period.parse` to name what is wrong with it."""
    match = _ADX_PERIOD.match(text)
    if match is None:
        return text
    year, month, duration = match.groups()
    number = int(month)
    if duration == "1M" and 1 <= number <= 12:
        return f"{year}{month}"
    if duration == "3M" and number in (1, 4, 7, 10):
        return f"{year}Q{(number - 1) // 3 + 1}"
    if duration == "1Y" and number == 1:
        return year
    return text


def adx_period(period: str) -> str:
    """OneTable's period as ADX writes it: its first day and its length ("2026Q4" → "2026-10-01/P3M")."""
    parsed = Period.parse(period)
    return f"{parsed.start.isoformat()}/{_DURATION[parsed.type]}"


@dataclass
class DataValue:
    """One data value as a DHIS2 client sent it; `index` is its place in the body (0-based)."""

    index: int
    data_element: str
    period: str
    org_unit: str
    value: Any
    comment: str = ""
    category_option_combo: str = ""
    attribute_option_combo: str = ""
    deleted: bool = False
    # an ADX <annotation>: the value of a field that is not a number, a comment on one that is (`annotated`)
    annotation: str | None = None

    @property
    def row(self) -> str:
        return f"dataValues[{self.index}]"

    def disaggregation(self) -> Problem | None:
        """A conflict when the value names a category or attribute option combo (OneTable has none)."""
        for name, combo in (
            ("categoryOptionCombo", self.category_option_combo),
            ("attributeOptionCombo", self.attribute_option_combo),
        ):
            if str(combo or "") not in DEFAULT_COMBO:
                return Problem(field=name, rule="dhis2.disaggregation", params={"combo": name})
        return None

    def annotated(self, *, numeric: bool) -> DataValue:
        """The value with its ADX annotation placed as DHIS2 reads it: on a numeric data element a comment (the
        number is `value`), on any other the value itself (DHIS2 writes text there, with value="0")."""
        if self.annotation is not None:
            if numeric:
                self.comment = self.annotation.strip()
            else:
                self.value = self.annotation.strip()
            self.annotation = None
        return self


def _text(value: Any) -> str:
    return "" if value is None else str(value) if not isinstance(value, (dict, list)) else json.dumps(value)[:60]


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _bad(why_zh: str, why_en: str) -> Problem:
    return Problem(field="body", rule="dhis2.body", params={"why_zh": why_zh, "why_en": why_en})


def _empty() -> Problem:
    return Problem(field="body", rule="body.empty")


def read_json(body: bytes | IO[bytes]) -> list[DataValue]:
    """A JSON data value set: {"dataSet", "period", "orgUnit", "attributeOptionCombo", "dataValues": [...]}.
    Nesting deeper than the API allows is refused as the API refuses it (`unstorable`'s depth, body.too_deep)."""
    raw = body if isinstance(body, bytes) else body.read()
    if not raw.strip():
        raise _empty()
    try:
        document = json.loads(raw)
        too_deep = [p for p in unstorable(document) if p.rule == "body.too_deep"]
    except RecursionError:
        raise Problem(field="body", rule="body.too_deep") from None
    except (ValueError, UnicodeDecodeError):
        raise _bad("不是 JSON", "not JSON") from None
    if too_deep:
        raise too_deep[0]
    if not isinstance(document, dict) or not isinstance(document.get("dataValues", []), list):
        raise _bad('须为含 "dataValues" 列表的对象', 'must be an object with a "dataValues" list')
    period, org_unit = _text(document.get("period")), _text(document.get("orgUnit"))
    combo = _text(document.get("attributeOptionCombo"))
    values = []
    for index, item in enumerate(document.get("dataValues", [])):
        if not isinstance(item, dict):
            item = {}
        values.append(
            DataValue(
                index=index,
                data_element=_text(item.get("dataElement")),
                period=onetable_period(_text(item.get("period")) or period),
                org_unit=_text(item.get("orgUnit")) or org_unit,
                value=item.get("value"),
                comment=_text(item.get("comment")),
                category_option_combo=_text(item.get("categoryOptionCombo")),
                attribute_option_combo=_text(item.get("attributeOptionCombo")) or combo,
                deleted=_truthy(item.get("deleted")),
            )
        )
    return values


def iter_csv(lines: Iterable[str]) -> Iterator[DataValue]:
    """DHIS2's CSV (columns by position, as CSV_COLUMNS); a first row naming the columns is skipped. A CSV the
    reader gives up on is refused by rule and line (`csv_problem`)."""
    reader = csv.reader(lines)
    try:
        yield from _csv_values(reader)
    except csv.Error as error:
        raise csv_problem(error, reader.line_num) from None
    except UnicodeDecodeError:
        raise _bad("不是 UTF-8 文本", "not UTF-8 text") from None


def _csv_values(reader: Iterator[list[str]]) -> Iterator[DataValue]:
    index = 0
    for number, cells in enumerate(reader):
        if number == 0 and cells and cells[0].strip().lower() in ("dataelement", "de"):
            continue
        if not any(c.strip() for c in cells):
            continue
        cells = (cells + [""] * len(CSV_COLUMNS))[: len(CSV_COLUMNS)]
        row = dict(zip(CSV_COLUMNS, (c.strip() for c in cells), strict=True))
        yield DataValue(
            index=index,
            data_element=row["dataelement"],
            period=onetable_period(row["period"]),
            org_unit=row["orgunit"],
            value=row["value"],
            comment=row["comment"],
            category_option_combo=row["catoptcombo"],
            attribute_option_combo=row["attroptcombo"],
            deleted=_truthy(row["deleted"]),
        )
        index += 1


def csv_problem(error: csv.Error, line: int) -> Problem:
    """A CSV the reader gave up on, by rule: a cell over the csv module's limit names the limit; anything else
    is a syntax error at its line (the module's own words in the English message only)."""
    if "field larger than field limit" in str(error):
        return Problem(field="body", rule="csv.field_too_long", params={"limit": csv.field_size_limit(), "line": line})
    return Problem(field="body", rule="csv.syntax", params={"line": line, "detail": str(error)[:200]})


def read_csv(body: bytes) -> list[DataValue]:
    if not body.strip():
        raise _empty()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad("不是 UTF-8 文本", "not UTF-8 text") from None
    return list(iter_csv(io.StringIO(text, newline="")))


# ADX's own attributes; any other on a group or a data value is a disaggregation OneTable does not have
_GROUP_ATTRIBUTES = {"orgUnit", "period", "dataSet", "completeDate"}
_VALUE_ATTRIBUTES = {"dataElement", "value"}


_ADX_ROOT = f"{{{ADX_NS}}}adx"
_ENCODING_ERRORS = {
    etree.ErrorTypes.ERR_INVALID_ENCODING,
    etree.ErrorTypes.ERR_UNKNOWN_ENCODING,
    etree.ErrorTypes.ERR_UNSUPPORTED_ENCODING,
    etree.ErrorTypes.ERR_ENCODING_NAME,
}


def _xml_problem(error: etree.XMLSyntaxError) -> Problem:
    """libxml2's error by rule: an empty document, bytes not in its encoding, or a syntax error at a line and
    column (libxml2's own words in the English message only)."""
    line, column = error.position if error.position and error.position[0] else (error.lineno or 1, 0)
    if error.code in (1, etree.ErrorTypes.ERR_DOCUMENT_EMPTY) and not line:  # lxml's "no element found"
        return _empty()
    if error.code in _ENCODING_ERRORS:
        return Problem(field="body", rule="xml.encoding", params={"line": line, "column": column})
    detail = re.sub(r", line \d+, column \d+$", "", error.msg or "")[:200]
    return Problem(field="body", rule="xml.syntax", params={"line": line, "column": column, "detail": detail})


def _adx_element(element: Any, first: bool) -> None:
    """Refuse a document type declaration (its entities could expand or fetch), a root that is not ADX's, and a
    group or data value outside ADX's namespace (a value that would not be read as ADX's is never read)."""
    name = etree.QName(element)
    if first and element.getroottree().docinfo.doctype:
        raise Problem(field="body", rule="xml.doctype")
    if first and element.tag != _ADX_ROOT:
        raise Problem(field="body", rule="adx.root", params={"tag": str(element.tag)[:80]})
    if name.localname in ("group", "dataValue") and name.namespace != ADX_NS:
        raise Problem(
            field="body", rule="adx.namespace", params={"element": name.localname, "namespace": str(name.namespace)}
        )


def iter_adx(source: bytes | Path) -> Iterator[DataValue]:
    """An ADX document, a data value at a time (lxml's iterparse: no DTD loaded, entities never expanded, no
    network). A data value's <annotation> is kept beside its `value`: which one is the value depends on the
    field's type (`DataValue.annotated`)."""
    stream: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
    group: dict[str, str] = {}
    index = 0
    first = True
    try:
        events = etree.iterparse(
            stream,
            events=("start", "end"),
            load_dtd=False,
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
        )
        for event, element in events:
            if event == "start":
                _adx_element(element, first)
                first = False
            tag = etree.QName(element).localname
            if event == "start" and tag == "group":
                group = dict(element.attrib)
            if event != "end" or tag != "dataValue":
                continue
            attributes = dict(element.attrib)
            annotation = next(
                (child.text or "" for child in element if etree.QName(child).localname == "annotation"), None
            )
            extra = sorted((set(group) - _GROUP_ATTRIBUTES) | (set(attributes) - _VALUE_ATTRIBUTES))
            yield DataValue(
                index=index,
                data_element=attributes.get("dataElement", ""),
                period=onetable_period(group.get("period", "")),
                org_unit=group.get("orgUnit", ""),
                value=attributes.get("value", ""),
                category_option_combo=",".join(extra),
                annotation=annotation,
            )
            index += 1
            element.clear()
    except etree.XMLSyntaxError as error:
        raise _xml_problem(error) from None
    finally:
        stream.close()


def read_adx(body: bytes) -> list[DataValue]:
    if not body.strip():
        raise _empty()
    return list(iter_adx(body))


@dataclass(frozen=True)
class OutValue:
    """One data value to write: codes, the value as DHIS2 text, and when its version was stored."""

    data_set: str
    data_element: str
    period: str
    org_unit: str
    value: str
    numeric: bool
    stored_by: str = ""
    last_updated: dt.datetime | None = None


def stamp(moment: dt.datetime | None) -> str:
    """A moment as DHIS2 writes one: the server's local time (settings.TIME_ZONE) without an offset, as
    system/info's serverDate, whose serverTimeZoneId names the zone."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M:%S.000") if moment else ""


def json_chunks(values: Iterable[OutValue]) -> Iterator[bytes]:
    yield b'{"dataValues":['
    first = True
    for v in values:
        item = {
            "dataElement": v.data_element,
            "period": v.period,
            "orgUnit": v.org_unit,
            "categoryOptionCombo": "default",
            "attributeOptionCombo": "default",
            "value": v.value,
            "storedBy": v.stored_by,
            "lastUpdated": stamp(v.last_updated),
            "comment": "",
            "followup": False,
        }
        yield (b"" if first else b",") + json.dumps(item, ensure_ascii=False).encode()
        first = False
    yield b"]}"


def csv_chunks(values: Iterable[OutValue]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for count, v in enumerate(values, start=1):
        when = stamp(v.last_updated)
        writer.writerow(
            [
                v.data_element,
                v.period,
                v.org_unit,
                "default",
                "default",
                v.value,
                v.stored_by,
                when,
                "",
                "false",
                "false",
            ]
        )
        if count % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def adx_chunks(values: Iterable[OutValue], exported: dt.datetime) -> Iterator[bytes]:
    """ADX, one <group> per data set, org unit and period (values arrive grouped so); a value that is not a
    number is written as DHIS2 does: value="0" and the text in <annotation>."""
    yield (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<adx xmlns="{ADX_NS}" exported="{exported.isoformat()}">\n'
    ).encode()
    key: tuple[str, str, str] | None = None
    for v in values:
        if (v.data_set, v.org_unit, v.period) != key:
            if key is not None:
                yield b"</group>\n"
            key = (v.data_set, v.org_unit, v.period)
            yield (
                f"<group dataSet={quoteattr(v.data_set)} orgUnit={quoteattr(v.org_unit)} "
                f"period={quoteattr(adx_period(v.period))}>\n"
            ).encode()
        if v.numeric:
            yield f"<dataValue dataElement={quoteattr(v.data_element)} value={quoteattr(v.value)}/>\n".encode()
        else:
            text = v.value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            yield (
                f'<dataValue dataElement={quoteattr(v.data_element)} value="0"><annotation>{text}</annotation>'
                "</dataValue>\n"
            ).encode()
    if key is not None:
        yield b"</group>\n"
    yield b"</adx>\n"


def parse_period(text: str) -> Period | None:
    try:
        return Period.parse(onetable_period(text), strict=True)
    except PeriodError:
        return None
