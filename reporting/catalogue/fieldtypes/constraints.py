"""The constraints a field type takes, as people set them in a form, and the ones several types share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from reporting.catalogue.fieldtypes.base import english, exact, read_day, read_number, read_whole
from reporting.rejections import Problem


@dataclass(frozen=True)
class Constraint:
    """One constraint a type takes, as people set it in a form: its key, its name in both languages, a hint,
    and the kind of input that holds it (a number, a whole number, a date, text, a list of options or a flag).
    Analysts and the office set constraints through these inputs, never as JSON."""

    key: str
    label_zh: str
    label_en: str
    kind: str  # "number" | "whole" | "date" | "text" | "options" | "flag"
    hint_zh: str = ""
    hint_en: str = ""

    @property
    def label(self) -> str:
        return self.label_en if english() else self.label_zh

    @property
    def hint(self) -> str:
        return self.hint_en if english() else self.hint_zh

    def text(self, value: Any) -> str:
        """A stored constraint value as its input shows it."""
        if value is None:
            return ""
        if self.kind == "options":
            return "\n".join(
                " | ".join(str(c.get(part) or "") for part in ("code", "zh", "en")).rstrip(" |")
                for c in value
                if isinstance(c, dict)
            )
        if self.kind == "number" and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                number = exact(value)
            except InvalidOperation:
                return str(value)
            return str(number) if type(number) is int else format(number, "f")  # 1e-07 reads 0.0000001
        return str(value)

    def read(self, text: str, *, field: str) -> Any:
        """The constraint value typed in a form, or a Problem naming this constraint; blank is None (unset)."""
        text = (text or "").strip()
        if not text:
            return None
        try:
            return self._read(text, field)
        except Problem as problem:
            raise problem.labelled(self.label_zh, self.label_en) from None

    def _read(self, text: str, field: str) -> Any:
        if self.kind == "number":
            number = read_number(text, field=field)
            if number == number.to_integral_value():
                return int(number)
            # JSON numbers are floats: a bound a float cannot hold exactly is kept as text (see exact)
            return float(number) if Decimal(repr(float(number))) == number else str(number)
        if self.kind == "whole":
            return read_whole(text, field=field)
        if self.kind == "date":
            return read_day(text, field=field).isoformat()
        if self.kind == "options":
            return [_option(line) for line in text.splitlines() if line.strip()]
        return text


def _option(line: str) -> dict[str, str]:
    """One option a line: `code | 中文名称 | English name` (the names may be left out)."""
    code, zh, en = ([part.strip() for part in re.split(r"[|｜]", line)] + ["", ""])[:3]
    return {key: text for key, text in (("code", code), ("zh", zh), ("en", en)) if text or key == "code"}


def min_max(kind: str, low: tuple[str, str], high: tuple[str, str]) -> tuple[Constraint, Constraint]:
    """A type's "min" and "max" constraints: their input's kind, and the name of each in both languages."""
    return Constraint("min", *low, kind), Constraint("max", *high, kind)


LOWEST, HIGHEST = ("最小值", "Minimum"), ("最大值", "Maximum")
REQUIRED = Constraint("required", "必填", "Required", "flag")
MIN, MAX = min_max("number", LOWEST, HIGHEST)
OPTIONS = Constraint(
    "choices",
    "选项",
    "Options",
    "options",
    "每行一个：代码 | 中文名称 | English name",
    "one a line: code | Chinese name | English name",
)
