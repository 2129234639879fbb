"""Register supplies as files: JSON, CSV and XLSX bodies read into SupplyRows, streaming.

Each reader yields one `SupplyRow` at a time from a file it reads in small pieces, so a province's register
(hundreds of thousands of rows) is read in constant memory. A row a reader cannot make sense of (not an
object, a cell PostgreSQL could not store) is yielded with its `problem`, so it is refused by row like any
other; a file that cannot be read at all (not JSON, no header naming the columns) raises a Problem.

The readers are registered in `SUPPLY_FORMATS` under "json", "csv" and "xlsx" when the app is ready.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

from openpyxl import load_workbook

from reporting.rejections import Problem, blank, storable
from reporting.services.supplies import SUPPLY_FORMATS, SupplyRow
from reporting.services.supply_sets import RUN_BYTES, Run

COLUMNS = ("unit", "period", "field", "value")  # the order of the template's columns
OPTIONAL = ("record",)
_CHUNK = 1 << 16
_LONGEST_ROW = 1 << 20  # a row longer than this is not a row: refuse instead of reading the rest of the body


def row_from(label: str, item: Any) -> SupplyRow:
    """One supply row from a JSON object (or a dict read from a CSV/XLSX row), refused by row if malformed."""
    if type(item) is dict:
        # the common row, three texts checked with one search (a province's register has 200,000 of them); a
        # key that is missing reads as None here and goes the long way below, and so does a ledger record's row
        unit, period, code, value = item.get("unit"), item.get("period"), item.get("field"), item.get("value")
        if type(unit) is str and type(period) is str and type(code) is str and item.get("record") is None:
            if storable(unit + period + code + (value if type(value) is str else "")):
                return SupplyRow(label, unit.strip(), period.strip(), code.strip(), value, item.get("delete") is True)
    # a ledger record's row (with `record`) needs no period: its record's date gives it
    if not isinstance(item, dict) or not all(k in item for k in ("unit", "field")):
        return SupplyRow(label, "", "", "", None, problem=Problem(field="row", rule="supply.row"))
    if "period" not in item and item.get("record") in (None, ""):
        return SupplyRow(label, "", "", "", None, problem=Problem(field="row", rule="supply.row"))
    value = item.get("value")
    texts = {k: item.get(k) for k in ("unit", "period", "field", "record")}
    for key, text in texts.items():
        if text is not None and not isinstance(text, (str, int)):
            return SupplyRow(label, "", "", "", None, problem=Problem(field=key, rule="supply.code"))
        if isinstance(text, str) and not storable(text):
            return SupplyRow(label, "", "", "", None, problem=Problem(field=key, rule="text.character"))
    if isinstance(value, str) and not storable(value):
        return SupplyRow(label, "", "", "", None, problem=Problem(field="value", rule="text.character"))
    return SupplyRow(
        label,
        str(texts["unit"]).strip(),
        "" if texts["period"] is None else str(texts["period"]).strip(),
        str(texts["field"]).strip(),
        value,
        delete=item.get("delete") is True,
        record=None if texts["record"] in (None, "") else str(texts["record"]).strip(),
    )


# ---- JSON: `{"values": [{...}, ...], "atomic": ..., "dry_run": ...}` or a bare array of rows --------------------


class _Text:
    """A binary stream decoded as UTF-8 into a window that grows only as far as the value being decoded."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.decoder = stream, codecs.getincrementaldecoder("utf-8-sig")()
        self.buffer, self.pos, self.eof = "", 0, False

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(_CHUNK)
        try:
            text = self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            raise Problem(field="body", rule="supply.json") from None
        self.buffer, self.pos = self.buffer[self.pos :] + text, 0
        self.eof = not chunk
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self.more():
                return ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise Problem(field="body", rule="supply.json")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next JSON value, reading on while it is cut off at the end of the window."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError:
                if len(self.buffer) - self.pos < _LONGEST_ROW and self.more():
                    continue
                raise Problem(field="body", rule="supply.json") from None
            except RecursionError:
                raise Problem(field="body", rule="body.too_deep") from None
            if end == len(self.buffer) and not self.eof and isinstance(value, (int, float)):
                self.more()  # a number may go on in the next piece
                continue
            self.pos = end
            return value


_DECODER = json.JSONDecoder()


def json_items(stream: IO[bytes], *, runs: bool = False) -> Generator[tuple[str, Any], bool | None, None]:
    """("row", object) for each supplied row and (key, value) for the body's other top-level keys, in order;
    ("values", None) stands for the array of rows itself (a bare array is read as that array).

    With `runs`, a run of whole rows inside the window comes as ("row", Run(text)) undecoded, and the caller
    sends back whether it used it: False (PostgreSQL could not read it) has its rows decoded here as usual."""
    text = _Text(stream)
    first = text.peek()
    if first == "[":
        yield "values", None
        yield from _rows(text, runs)
    elif first == "{":
        text.pos += 1
        while text.peek() != "}":
            key = text.value()
            if not isinstance(key, str):
                raise Problem(field="body", rule="supply.json")
            text.expect(":")
            if key == "values" and text.peek() == "[":
                yield "values", None
                yield from _rows(text, runs)
            else:
                yield key, text.value()
            if text.peek() == ",":
                text.pos += 1
        text.pos += 1
    else:
        raise Problem(field="body", rule="supply.json")
    if text.peek() != "":
        raise Problem(field="body", rule="supply.json")


def _rows(text: _Text, runs: bool) -> Generator[tuple[str, Any], bool | None, None]:
    items = _array(text, runs)
    sent: bool | None = None
    while True:
        try:
            item = items.send(sent)
        except StopIteration:
            return
        sent = yield "row", item


def _array(text: _Text, runs: bool = False) -> Generator[Any, bool | None, None]:
    text.expect("[")
    if text.peek() == "]":
        text.pos += 1
        return
    decode = _DECODER.raw_decode
    tried = -1  # the window's length when it last held no run of whole rows to decode at once
    while True:
        if runs:  # runs of about RUN_BYTES: each is one statement
            while len(text.buffer) - text.pos < RUN_BYTES and text.more():
                pass
        text.peek()  # past the white space after a comma ("}, {"), so that a run can start here
        # the usual case, objects separated by commas inside the window: the run of them up to the window's last
        # "}" decoded in one call as an array (a cut that is not between two rows makes no valid array, and the
        # rows are then decoded one by one until the window grows)
        buffer, pos = text.buffer, text.pos
        cut = buffer.rfind("}", pos) + 1 if buffer.startswith("{", pos) and len(buffer) != tried else 0
        if runs and cut > pos:  # the run ends at a "}" that a "," or the array's "]" follows
            cut = _row_end(buffer, pos, cut)
        if cut > pos and runs and (yield Run(buffer[pos:cut])):
            text.pos = cut
            if text.buffer.startswith(",", text.pos) or text.peek() == ",":
                text.pos += 1
                continue
            text.expect("]")
            return
        if cut > pos:
            try:
                run = _DECODER.decode(f"[{buffer[pos:cut]}]")
            except (json.JSONDecodeError, RecursionError):
                tried = len(buffer)
            else:
                text.pos = cut
                yield from run
                if text.buffer.startswith(",", text.pos) or text.peek() == ",":
                    text.pos += 1
                    continue
                text.expect("]")
                return
        # one object followed by a comma, inside the window: decoded here without the window's checks (an
        # object cannot go on in the next piece); anything else goes through text.value()
        if buffer.startswith("{", pos):
            try:
                value, end = decode(buffer, pos)
            except (json.JSONDecodeError, RecursionError):
                value, end = text.value(), None
            if end is not None:
                text.pos = end
        else:
            value = text.value()
        yield value
        if text.buffer.startswith(",", text.pos) or text.peek() == ",":
            text.pos += 1
            continue
        text.expect("]")
        return


def _row_end(buffer: str, pos: int, cut: int) -> int:
    """Where the run of whole rows in buffer[pos:cut] ends: after its last "}" followed by "," or "]" (the body's
    own closing "}" is not a row's), or pos when there is none."""
    while cut > pos:
        after = cut
        while after < len(buffer) and buffer[after] in " \t\r\n":
            after += 1
        if after < len(buffer) and buffer[after] in ",]":
            return cut
        cut = buffer.rfind("}", pos, cut - 1) + 1
    return pos


def json_row(label: str, item: Any) -> SupplyRow:
    """A JSON row: its `value` is required (null is no value); a register value is withdrawn only by saying so,
    `"delete": true`, as the DHIS2 face's `importStrategy=DELETE` (a row that forgot its value withdraws nothing)."""
    row = row_from(label, item)
    if row.problem is None and not row.delete and (row.value is None or (type(row.value) is str and blank(row.value))):
        return row._replace(problem=Problem(field="value", rule="supply.value_required"))
    return row


def json_rows(stream: IO[bytes]) -> Iterator[SupplyRow]:
    index = 0
    for key, item in json_items(stream):
        if key == "row":
            yield json_row(f"values[{index}]", item)
            index += 1


def json_options(stream: IO[bytes]) -> dict[str, Any]:
    """The body's top-level keys other than its rows (atomic, dry_run), read through the whole body."""
    return {key: value for key, value in json_items(stream) if key != "row"}


def json_body(stream: IO[bytes]) -> tuple[dict[str, Any], list[SupplyRow]]:
    """A body held in memory (under the request limit): its top-level keys and its rows."""
    options: dict[str, Any] = {}
    rows: list[SupplyRow] = []
    for key, item in json_items(stream):
        if key == "row":
            rows.append(json_row(f"values[{len(rows)}]", item))
        else:
            options[key] = item
    return options, rows


class JsonFile:
    """A stored JSON body's rows: SupplyRows when iterated, or in runs of undecoded rows (`supplies.RunSource`:
    `supply_values` has PostgreSQL read and check them, `supply_sets`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[SupplyRow]:
        with self.path.open("rb") as stream:
            yield from json_rows(stream)

    def runs(self) -> Generator[tuple[str, Any], bool | None, None]:
        with self.path.open("rb") as stream:
            yield from json_items(stream, runs=True)

    def row(self, label: str, item: Any) -> SupplyRow:
        return json_row(label, item)


def read_json(path: Path) -> JsonFile:
    return JsonFile(path)


# ---- CSV and XLSX: a header row naming the columns unit, period, field, value (and record) ----------------------


def _header(cells: tuple) -> dict[str, int]:
    names = [str(c).strip().lower() if c is not None else "" for c in cells]
    if not all(name in names for name in COLUMNS):
        raise Problem(field="file", rule="supply.header")
    return {name: names.index(name) for name in COLUMNS + OPTIONAL if name in names}


def _cells(cells: tuple, header: dict[str, int]) -> dict[str, Any]:
    return {name: (cells[i] if i < len(cells) else None) for name, i in header.items()}


def _only_names_a_field(item: dict[str, Any]) -> bool:
    """A template's line for a field, left without unit, period and value: not a row of the supply."""
    return all(
        item.get(k) in (None, "") or (isinstance(item.get(k), str) and not item[k].strip())
        for k in ("unit", "period", "value")
    )


def csv_rows(lines: Iterator[str]) -> Iterator[SupplyRow]:
    reader = csv.reader(lines)
    try:
        header = _header(tuple(next(reader)))
    except StopIteration:
        raise Problem(field="file", rule="supply.header") from None
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        item = _cells(tuple(cells), header)
        if _only_names_a_field(item):
            continue
        item["value"] = item["value"] if item["value"] is None else item["value"].strip()
        yield row_from(str(reader.line_num), item)


def read_csv(path: Path) -> Iterator[SupplyRow]:
    with path.open("rb") as body:
        yield from _csv_text(body)


def read_xlsx(path: Path | IO[bytes]) -> Iterator[SupplyRow]:
    """Every worksheet whose first row names the columns; rows named "worksheet!row"."""
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds of errors for a file that is not an XLSX workbook
        raise Problem(field="file", rule="file.not_xlsx") from None
    found = False
    try:
        for ws in workbook.worksheets:
            rows = ws.iter_rows(values_only=True)
            try:
                header = _header(tuple(next(rows)))
            except (StopIteration, Problem):
                continue
            found = True
            for number, cells in enumerate(rows, start=2):
                if not any(c not in (None, "") for c in cells):
                    continue
                item = _cells(cells, header)
                if _only_names_a_field(item):
                    continue
                for name in ("unit", "period", "record"):  # codes typed as numbers are codes
                    if isinstance(item.get(name), float) and item[name].is_integer():
                        item[name] = int(item[name])
                yield row_from(f"{ws.title}!{number}", item)
    finally:
        workbook.close()
    if not found:
        raise Problem(field="file", rule="supply.header")


def rows_of(format: str, body: IO[bytes]) -> Iterator[SupplyRow]:
    """The rows of a body held by the caller (a request's, an upload's), in one of the formats."""
    if format == "json":
        return json_rows(body)
    if format == "xlsx":
        return read_xlsx(body)
    return _csv_text(body)


def _csv_text(body: IO[bytes]) -> Iterator[SupplyRow]:
    try:
        yield from csv_rows(codecs.iterdecode(body, "utf-8-sig"))
    except csv.Error as error:
        if "field larger than field limit" in str(error):  # a valid file, one cell past what the reader takes
            raise Problem(field="file", rule="supply.csv_cell", params={"max": csv.field_size_limit()}) from None
        raise Problem(field="file", rule="supply.csv") from None
    except UnicodeDecodeError:
        raise Problem(field="file", rule="supply.csv") from None


SUPPLY_FORMATS.update({"json": read_json, "csv": read_csv, "xlsx": read_xlsx})
