"""What a filing's values say beyond each value alone: the sheet's validation rules (errors and warnings) and
plausibility against the unit's own history or the office's expected range (warnings). One home for every
channel: the form, the Excel upload, the unit API and the DHIS2 face all file through `submit_sheet` and
`correct_submission`, which call `findings`; the form's browser check evaluates the same definitions
(`rules_data`) with `static/js/rules.js`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reporting.catalogue import expressions
from reporting.catalogue import rules as rule_semantics
from reporting.catalogue.rules import Baseline, Finding
from reporting.filing.baselines import history_summaries
from reporting.filing.onetable import OneTable
from reporting.reads.rules import SheetChecks, sheet_checks
from reporting.rejections import Problem, Problems, storable, trimmed

MAX_EXPLANATION = 200


def typed_values(table: OneTable, values: dict[str, Any], numbers: set[str] | None = None) -> dict[str, Any]:
    """Stored answers as the evaluator takes them: the numbers of numeric fields (`numbers`, the codes of the
    table's numeric fields, when the caller has them already) as Decimals."""
    numbers = _number_codes(table) if numbers is None else numbers
    out: dict[str, Any] = {}
    for code, value in values.items():
        if type(value) is int and code in numbers:  # a whole number, the common case: exact without its text
            out[code] = Decimal(value)
        elif code in numbers and value is not None and not isinstance(value, bool):
            try:
                out[code] = Decimal(str(value))
            except ArithmeticError:
                continue
        else:
            out[code] = value
    return out


def _number_codes(table: OneTable) -> set[str]:
    return {e.field.code for e in _numeric(table)}


def _numeric(table: OneTable) -> list[Any]:
    """The table's numeric fields."""
    return [e for e in table.fields if e.field.field_type.expression_kind == expressions.NUMBER]


def rules_data(table: OneTable) -> dict[str, Any]:
    """What the browser checks as the cadre types (data only): the rules' definitions, the kind of each field,
    and the plausibility hint's data."""
    codes = {e.code for e in table.fields}
    return {
        "rules": _checks(table).rules_for(table.period, codes),
        "kinds": {e.code: e.field.field_type.expression_kind for e in table.fields},
        "plausibility": _hint_data(table, _checks(table)),
    }


def _checks(table: OneTable) -> SheetChecks:
    """The sheet's checks, kept on the table's catalogue: that object is the one of the generation in force
    (a change to a rule, a range or the threshold moves the generation on), so no second lookup is needed."""
    catalogue = table.catalogue
    checks = getattr(catalogue, "checks", None)
    if checks is None:
        checks = sheet_checks(table.sheet)
        if catalogue is not None:
            catalogue.checks = checks  # type: ignore[attr-defined]
    return checks


def findings(table: OneTable, values: dict[str, Any]) -> list[Finding]:
    """Every rule that fails and every implausible number, for the answers `values` of `table`."""
    checks, numeric = _checks(table), _numeric(table)
    typed = typed_values(table, values, {e.field.code for e in numeric})
    found = rule_semantics.failures(checks.verdicts_for(table.period, {e.code for e in table.fields}), typed)
    return found + _implausible(table, typed, checks, [e for e in numeric if e.register is None])


def _unit_numbers(table: OneTable) -> list[Any]:
    """The table's numeric fields the unit itself types: a register's values are its source's to check."""
    return [e for e in _numeric(table) if e.register is None]


def _implausible(table: OneTable, typed: dict[str, Any], checks: SheetChecks, unit_numbers: list[Any]) -> list[Finding]:
    numeric = [e for e in unit_numbers if isinstance(typed.get(e.field.code), Decimal)]
    if not numeric or not (checks.history or checks.ranges):
        return []
    codes = [e.field.code for e in numeric]
    history = history_summaries(table.unit, table.sheet, table.period, codes) if checks.history else Baseline({})
    threshold, ranges, found = float(checks.threshold), checks.ranges, []
    # the spreads and one factor rather than `history.usual`: no dict of reaches made for the few numbers that
    # leave it (most numbers of a filing stop at the first test)
    spreads, factor = history.spreads(), rule_semantics.usual_reach(threshold)
    for entry, code in zip(numeric, codes, strict=True):
        if code not in ranges and (spread := spreads.get(code)) is not None:
            median, mad = spread
            if abs(float(typed[code]) - median) <= factor * mad:
                continue  # surely usual for the unit
        summary = history.get(code)
        low, high = ranges[code] if code in ranges else (None, None)
        if low is None and high is None and (summary is None or summary.size < rule_semantics.MIN_HISTORY):
            continue  # nothing to compare with: `implausible` would say None
        why = rule_semantics.implausible(typed[code], low=low, high=high, summary=summary, threshold=threshold)
        if why is not None:
            found.append(_plausibility(entry.field, typed[code], summary, (low, high), why))
    return found


# The hint's words, one place: the server fills them here, the browser (static/js/rules.js) from `rules_data`.
HINTS = {
    "range": (
        "{name_zh}：{value} 不在通常范围 {low}～{high} 内，请确认或说明（此前：{before_zh}）",
        "{name_en}: {value} is outside the usual range {low} to {high}; confirm or explain (before: {before_en})",
    ),
    "history": (
        "{name_zh}：{value} 与本单位此前的数值相差很大，请确认或说明（此前：{before_zh}）",
        "{name_en}: {value} is far from this unit's earlier values; confirm or explain (before: {before_en})",
    ),
}


def _plausibility(f: Any, value: Decimal, summary: Any, bounds: tuple, why: str) -> Finding:
    earlier = [_plain(v) for v in summary.last] if summary is not None else []
    words = {
        "name_zh": f.name_zh,
        "name_en": f.name_en,
        "value": str(value),
        **bounds_shown(*bounds),
        "before_zh": "、".join(earlier) or "—",
        "before_en": ", ".join(earlier) or "—",
    }
    zh, en = HINTS[why]
    return Finding(
        key=f"plausibility:{f.code}",
        kind="plausibility",
        importance="warning",
        fields=(f.code,),
        message_zh=zh.format(**words),
        message_en=en.format(**words),
        history=tuple(earlier),
    )


def bounds_shown(low: Decimal | None, high: Decimal | None) -> dict[str, str]:
    """An expected range's bounds as people read them: 0 and 10, not 0.000000 and 10.000000; "—" for none."""
    return {name: "—" if bound is None else f"{bound.normalize():f}" for name, bound in (("low", low), ("high", high))}


def _plain(number: float) -> str:
    """An earlier value as the cadre typed it: 610, not 610.0."""
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _hint_data(table: OneTable, checks: SheetChecks) -> dict[str, Any]:
    """What the browser needs to give the plausibility hint as the cadre types: per numeric field the unit types,
    its expected range and its history's summary (median, MAD, count, the last values shown), the threshold, the
    words. The same `history_summaries` read and the same Summary as the server's check on submit."""
    entries = _unit_numbers(table)
    codes = [e.code for e in entries]
    history = history_summaries(table.unit, table.sheet, table.period, codes) if checks.history and codes else {}
    fields = {}
    for entry in entries:
        low, high = checks.ranges.get(entry.code, (None, None))
        summary = history.get(entry.code)
        if summary is None and low is None and high is None:
            continue
        fields[entry.code] = {
            "name_zh": entry.field.name_zh,
            "name_en": entry.field.name_en,
            "low": None if low is None else float(low),
            "high": None if high is None else float(high),
            "shown": bounds_shown(low, high),
            "summary": None
            if summary is None
            else {"count": summary.size, "median": summary.median, "mad": summary.mad},
            "before": [_plain(v) for v in summary.last] if summary is not None else [],
        }
    return {
        "threshold": float(checks.threshold),
        "min_history": rule_semantics.MIN_HISTORY,
        "z_factor": rule_semantics.Z_FACTOR,
        "fields": fields,
        "words": HINTS,
    }


def read_explanations(raw: Any) -> dict[str, str]:
    """Explanations as given ({rule or field key: text}), or the Problem naming the bad one."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise Problems([Problem(field="explanations", rule="body.object")])
    out, problems = {}, []
    for key, text in raw.items():
        if not isinstance(text, str):
            problems.append(Problem(field=f"explanations.{key}", rule="text.type"))
        elif not storable(text):
            problems.append(Problem(field=f"explanations.{key}", rule="text.character"))
        elif len(trimmed(text)) > MAX_EXPLANATION:
            problems.append(
                Problem(field=f"explanations.{key}", rule="text.max_length", params={"max_length": MAX_EXPLANATION})
            )
        elif trimmed(text):
            out[str(key)] = trimmed(text)
    if problems:
        raise Problems(problems)
    return out


def explanation_for(finding: Finding, explanations: dict[str, str]) -> str:
    """The unit's explanation of a finding: given for it (`rule:code`, `plausibility:field`, or the rule's bare
    code), or given on one of its fields (a DHIS2 value's comment, an Excel row's remark)."""
    bare = finding.key.split(":", 1)[1]
    for key in (finding.key, bare if finding.kind == "rule" else "", *finding.fields):
        if key and explanations.get(key):
            return explanations[key]
    return ""


def kept_explanations(stored: dict[str, Any] | None) -> dict[str, str]:
    """The explanations a version stored ({finding key: text}), the ones a correction of it keeps."""
    return {key: w["text"] for key, w in (stored or {}).items() if isinstance(w, dict) and w.get("text")}


def settle(
    found: list[Finding], explanations: dict[str, str], *, ask: bool, kept: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """What the version stores of its findings, or Problems: every error; and, when `ask` (the form), every
    warning not yet explained. Through the unit API, the Excel upload and the DHIS2 face a warning is stored
    unexplained, never refused. `kept` (a correction): the corrected version's explanations, by finding key; a
    finding still present keeps its explanation unless a new one is given, whatever the channel."""
    problems = []
    stored: dict[str, dict[str, Any]] = {}
    kept = kept or {}
    for finding in found:
        text = explanation_for(finding, explanations) or kept.get(finding.key, "")
        if finding.importance == "error":
            problems.append(_problem(finding, "rule.error"))
        elif ask and not text:
            problems.append(_problem(finding, "rule.warning"))
        else:
            stored[finding.key] = {
                "kind": finding.kind,
                "fields": list(finding.fields),
                "message_zh": finding.message_zh,
                "message_en": finding.message_en,
                "text": text,
            }
    if problems:
        raise Problems(problems)
    return stored


def _problem(finding: Finding, rule: str) -> Problem:
    code = finding.key.split(":", 1)[1]
    return Problem(
        field=finding.key,
        rule=rule if finding.kind == "rule" else "plausibility.warning",
        params={
            "code": code,
            "text_zh": finding.message_zh,
            "text_en": finding.message_en,
            "fields": list(finding.fields),
        },
    )
