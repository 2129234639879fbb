"""Turn a one table into form rows and a POSTed form back into answers (no Django Form: fields are dynamic)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from reporting.errors import Problem
from reporting.onetable import OneTable, TableField


@dataclass
class Row:
    entry: TableField
    value: Any  # what to show in the input: typed text, carried value or current value
    na: bool = False
    na_reason: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def f(self):
        return self.entry.field

    @property
    def widget(self) -> dict[str, Any]:
        return self.f.field_type.widget(self.f.constraints)

    @property
    def rules(self) -> list[str]:
        """The input's rules in words, shown before any error; the choices themselves are on screen."""
        return [text for key, text in self.f.field_type.rules(self.f.constraints) if key != "choices"]

    @property
    def selected(self) -> list[str]:
        """Selected choice codes, for choice and multiple-choice widgets."""
        if self.value in (None, ""):
            return []
        return [str(v) for v in self.value] if isinstance(self.value, list) else [str(self.value)]

    @property
    def input_type(self) -> str:
        """The input's HTML type. A browser empties a date input whose value is not an ISO date, so a date typed
        wrong (or in another form the parser accepts) comes back as text: shown as typed, to be mended."""
        if self.widget["input"] != "date":
            return "text"
        try:
            dt.date.fromisoformat(self.input_value)
        except ValueError:
            return "text" if self.input_value else "date"
        return "date" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.input_value) else "text"

    @property
    def input_value(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, bool):
            return "1" if self.value else "0"
        return str(self.value)


def read_post(table: OneTable, post: QueryDict) -> tuple[dict[str, Any], dict[str, str]]:
    """The raw answers and "not applicable" reasons a form posted, for the table's fields only."""
    raw: dict[str, Any] = {}
    na: dict[str, str] = {}
    for entry in table.fields:
        code = entry.code
        if post.get(f"na__{code}"):
            na[code] = post.get(f"nar__{code}", "")
        elif entry.field.type == "multi_choice":
            raw[code] = post.getlist(f"v__{code}")
        else:
            raw[code] = post.get(f"v__{code}", "")
    return raw, na


def rows_for(
    table: OneTable,
    *,
    values: dict[str, Any] | None = None,
    not_applicable: dict[str, str] | None = None,
    problems: dict[str, list[Problem]] | None = None,
    use_carried: bool = True,
) -> list[Row]:
    values, not_applicable, problems = values or {}, not_applicable or {}, problems or {}
    rows = []
    for entry in table.fields:
        value = values.get(entry.code)
        if value is None and use_carried and entry.has_carried and entry.code not in values:
            value = entry.carried
        rows.append(
            Row(
                entry,
                value,
                na=entry.code in not_applicable,
                na_reason=not_applicable.get(entry.code, ""),
                problems=problems.get(entry.code, []),
            )
        )
    return rows


def draft_answers(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    return raw.get("values", {}), raw.get("not_applicable", {})
