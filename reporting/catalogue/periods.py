"""Reporting periods in the DHIS2 notation: `2026` (year), `2026Q4` (quarter), `202611` (month)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import get_language

from reporting.rejections import Problem, Problems


class PeriodType(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


_PER_YEAR = {PeriodType.MONTHLY: 12, PeriodType.QUARTERLY: 4, PeriodType.YEARLY: 1}
# ASCII digits only: `\d` also takes '٢٠٢٦', which `int()` reads as 2026, so one period had many spellings
_PATTERNS = [
    (re.compile(r"^([0-9]{4})(0[1-9]|1[0-2])$"), PeriodType.MONTHLY),
    (re.compile(r"^([0-9]{4})Q([1-4])$"), PeriodType.QUARTERLY),
    (re.compile(r"^([0-9]{4})$"), PeriodType.YEARLY),
]
# What people type where a page or the API takes a period (2026-12, 2026-Q4, and "2026 Q4" as the English pages
# label one), read as the period the DHIS2 notation writes. The DHIS2 face and register supplies take the notation
# alone (`strict`): the standard requires it, and their rows are keyed by the text sent.
_TYPED = [
    (re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$"), PeriodType.MONTHLY),
    (re.compile(r"^([0-9]{4})[- ]Q([1-4])$"), PeriodType.QUARTERLY),
]
MIN_YEAR, MAX_YEAR = 1900, 2999
# English month names are fixed here rather than taken from the locale: a label must not depend on the server's.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class PeriodError(Problem):
    """A period string that is not in the DHIS2 notation."""


@dataclass(frozen=True, order=True)
class Period:
    """One reporting period; `index` counts from 1 within the year (month 1–12, quarter 1–4, year 1)."""

    type: PeriodType
    year: int
    index: int = 1

    @classmethod
    def parse(cls, text: str, *, field: str = "period", strict: bool = False) -> Period:
        """The period `text` names: in the DHIS2 notation, or (unless `strict`) as typed, 2026-12 or 2026-Q4."""
        given = (text or "").strip()  # echoed as sent when refused
        text = given.upper()
        if not text:
            raise PeriodError(field=field, rule="required", label_zh="报告期", label_en="Period")
        for pattern, period_type in _PATTERNS + _TYPED:
            match = pattern.match(text)
            if match:
                year = int(match.group(1))
                if not MIN_YEAR <= year <= MAX_YEAR:
                    raise PeriodError(field=field, rule="period.year", params={"min": MIN_YEAR, "max": MAX_YEAR})
                index = int(match.group(2)) if period_type is not PeriodType.YEARLY else 1
                found = cls(period_type, year, index)
                if strict and (pattern, period_type) in _TYPED:
                    params = {"value": given[:30], "notation": str(found)}
                    raise PeriodError(field=field, rule="period.notation", params=params)
                return found
        # a period written as ADX writes one (its first day and length) that does not name a period: the answer
        # shows that notation (`reporting.dhis2.formats.onetable_period` reads the ones that do)
        rule = "period.adx_format" if "/P" in text else "period.format"
        raise PeriodError(field=field, rule=rule, params={"value": given[:30]})

    @classmethod
    def containing(cls, day: dt.date, period_type: PeriodType | str) -> Period:
        period_type = PeriodType(period_type)
        if period_type is PeriodType.MONTHLY:
            return cls(period_type, day.year, day.month)
        if period_type is PeriodType.QUARTERLY:
            return cls(period_type, day.year, (day.month - 1) // 3 + 1)
        return cls(period_type, day.year, 1)

    def __str__(self) -> str:
        if self.type is PeriodType.MONTHLY:
            return f"{self.year}{self.index:02d}"
        if self.type is PeriodType.QUARTERLY:
            return f"{self.year}Q{self.index}"
        return f"{self.year}"

    @property
    def _per_year(self) -> int:
        return _PER_YEAR[self.type]

    def _ordinal(self) -> int:
        return self.year * self._per_year + self.index - 1

    def _from_ordinal(self, ordinal: int) -> Period:
        year, offset = divmod(ordinal, self._per_year)
        return Period(self.type, year, offset + 1)

    def shift(self, n: int) -> Period:
        return self._from_ordinal(self._ordinal() + n)

    def next(self) -> Period:
        return self.shift(1)

    def previous(self) -> Period:
        return self.shift(-1)

    @property
    def start(self) -> dt.date:
        months = 12 // self._per_year
        return dt.date(self.year, (self.index - 1) * months + 1, 1)

    @property
    def end(self) -> dt.date:
        return self.next().start - dt.timedelta(days=1)

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def has_begun(self, today: dt.date) -> bool:
        """Whether the period's first day has come: the one notion of "begun" for filing and for the catalogue."""
        return self.start <= today

    def label(self) -> str:
        """Human label in the active language: 2026年11月, 2026年第4季度, 2026年; Nov 2026, 2026 Q4, 2026."""
        return self.label_en() if (get_language() or "").startswith("en") else self.label_zh()

    def label_zh(self) -> str:
        """The label in Chinese (2026年第4季度), whatever the active language: a refusal's Chinese half."""
        if self.type is PeriodType.MONTHLY:
            return f"{self.year}年{self.index}月"
        if self.type is PeriodType.QUARTERLY:
            return f"{self.year}年第{self.index}季度"
        return f"{self.year}年"

    def label_en(self) -> str:
        """The label in English (2026 Q4), whatever the active language: a refusal's English half."""
        if self.type is PeriodType.MONTHLY:
            return f"{_MONTHS[self.index - 1]} {self.year}"
        if self.type is PeriodType.QUARTERLY:
            return f"{self.year} Q{self.index}"
        return f"{self.year}"

    def periods_until(self, last: Period) -> Iterator[Period]:
        """This period and every following one up to `last`, inclusive."""
        if last.type is not self.type:
            raise ValueError("periods of different types")
        for ordinal in range(self._ordinal(), last._ordinal() + 1):
            yield self._from_ordinal(ordinal)

    def overlaps(self, start: dt.date, end: dt.date | None) -> bool:
        return self.end >= start and (end is None or self.start <= end)


def periods_per_year(period_type: PeriodType | str) -> int:
    return _PER_YEAR[PeriodType(period_type)]


def first_not_begun(period_type: PeriodType | str, today: dt.date) -> Period:
    """The first period of this type that has not begun (the one after the period containing today)."""
    return Period.containing(today, period_type).next()


def period_range(period_from: str | None, period_to: str | None) -> tuple[Period | None, Period | None]:
    """A filter's range of periods, each end optional; a malformed end, or a start after the end, is refused
    naming the parameter. Ends of different types are compared by their days (2026Q4 ends in 2026)."""
    problems: list[Problem] = []
    ends: dict[str, Period | None] = {}
    for name, text in (("period_from", period_from), ("period_to", period_to)):
        ends[name] = None
        if text not in (None, ""):
            try:
                ends[name] = Period.parse(text, field=name)
            except PeriodError as problem:
                problems.append(problem)
    first, last = ends["period_from"], ends["period_to"]
    if first is not None and last is not None and first.start > last.end:
        problems.append(
            Problem(field="period_from", rule="period.range", params={"first": str(first), "last": str(last)})
        )
    if problems:
        raise Problems(problems)
    return first, last
