"""Rejections that name the field and the rule, in Chinese first and English second.

Every rule has one code and one pair of message templates here; pages, the API
and Excel uploads all render the same Problem.
"""

from __future__ import annotations

import re
from typing import Any

MESSAGES: dict[str, tuple[str, str]] = {
    # values
    "required": ("必填", "is required"),
    "integer.invalid": ("须为整数", "must be a whole number"),
    "decimal.invalid": ("须为数字", "must be a number"),
    "decimal.places": ("最多保留 {places} 位小数", "must have at most {places} decimal places"),
    "min": ("不能小于 {min}", "must be at least {min}"),
    "max": ("不能大于 {max}", "must be at most {max}"),
    "text.max_length": ("不能超过 {max_length} 个字符", "must be at most {max_length} characters"),
    "text.pattern": ("格式不符合要求：{pattern_hint}", "does not have the required form: {pattern_hint}"),
    "choice.invalid": ("须为下列选项之一：{choices}", "must be one of: {choices}"),
    "choice.max_selected": ("最多选择 {max_selected} 项", "allows at most {max_selected} choices"),
    "date.invalid": ("须为日期，格式为 年-月-日（如 2026-11-05）", "must be a date such as 2026-11-05"),
    "date.min": ("不能早于 {min}", "must not be before {min}"),
    "date.max": ("不能晚于 {max}", "must not be after {max}"),
    "date.in_period": ("须在报告期 {period} 内", "must fall within the period {period}"),
    "boolean.invalid": ("须为“是”或“否”", "must be yes or no"),
    "na.forbidden": ("本项不能填“不适用”", "cannot be answered “not applicable”"),
    "na.reason": ("选择“不适用”时须填写原因", "needs a reason when answered “not applicable”"),
    "unknown": ("不是本表的字段", "is not a field of this table"),
    # the one "already submitted" message: the API's 409, the page's notice and an Excel upload's refusal
    "already_submitted": (
        "本表本期已提交，如需修改请更正",
        "was already submitted for this period; correct it instead",
    ),
    # a worksheet of a sheet the template no longer offers: filed since it was downloaded, or no longer asked
    "sheet.closed": (
        "本表本期已提交或不再需要填报，如需修改请在页面上更正",
        "was already submitted for this period or is no longer asked; correct it on its page",
    ),
    "version.conflict": (
        "已有更新的版本 {current}，请刷新后再更正",
        "a newer version {current} exists; reload and correct it",
    ),
    "reason.required": ("更正须说明原因", "a correction needs a reason"),
    "file.not_xlsx": ("不是有效的 Excel（.xlsx）文件", "is not a valid Excel (.xlsx) workbook"),
    "file.not_template": ("不是本系统下载的模板", "is not a template downloaded from OneTable"),
    "file.other_table": ("模板的单位或报告期与本页不符", "the template is for another unit or period"),
    "body.object": ("须为 JSON 对象", "must be a JSON object"),
    "body.media_type": (
        "请求体须为 JSON（Content-Type: application/json）",
        "the request body must be JSON (Content-Type: application/json)",
    ),
    "ids.list": ("须为非空的投递编号列表，如 dlv_123", "must be a non-empty list of delivery ids such as dlv_123"),
    "ids.item": ("不是投递编号（应为 dlv_123 的形式）", "is not a delivery id (use the form dlv_123)"),
    "body.length_required": (
        "请求须带 Content-Length 请求头：本服务器无法读取分块传输（chunked）的请求体",
        "the request needs a Content-Length header: this server cannot read a chunked body",
    ),
    "body.too_large": ("请求体不能超过 {mb} MB", "the request body must not exceed {mb} MB"),
    "body.too_deep": ("JSON 嵌套层数过多", "the JSON is nested too deeply"),
    "text.character": (
        "含有不能保存的字符（控制字符、空字符 NUL、U+FFFE、U+FFFF 或无效的 Unicode 代理码元）",
        "contains a character that cannot be stored (a control character, a NUL, U+FFFE, U+FFFF "
        "or an unpaired Unicode surrogate)",
    ),
    "text.type": ("须为文字（字符串）", "must be text (a string)"),
    "boolean.json": ("须为 JSON 布尔值 true 或 false", "must be a JSON boolean, true or false"),
    "number.range": ("须为 {min} 至 {max} 的整数", "must be a whole number from {min} to {max}"),
    "idempotency.missing": ("缺少 Idempotency-Key 请求头", "the Idempotency-Key header is missing"),
    "idempotency.reused": (
        "该 Idempotency-Key 已用于另一个不同的请求",
        "this Idempotency-Key was already used for a different request",
    ),
    "idempotency.in_flight": (
        "使用该 Idempotency-Key 的请求正在处理中，请稍后重试",
        "a request with this Idempotency-Key is still being processed; retry later",
    ),
    "if_match.missing": (
        "更正须带 If-Match 请求头，值为当前版本号",
        "a correction needs an If-Match header naming the current version",
    ),
    "if_match.mismatch": (
        "If-Match 与当前版本 {current} 不符，请重新读取后再更正",
        "If-Match does not match the current version {current}; read it again before correcting",
    ),
    "feed.cursor": (
        "游标格式无效，应使用上一页返回的 next",
        "the cursor is malformed; use the `next` of the previous page",
    ),
    "feed.limit": ("须为 1 至 {max} 的整数", "must be a whole number from 1 to {max}"),
    "sheet.missing": ("没有这张表，请从列表中选择", "no such sheet; choose one from the list"),
    "sheet.unknown": ("没有您可查询的该表数据", "no data of this sheet is available to you"),
    "fields.unknown": ("不是本表中您可查询的字段", "is not a field of this sheet that you may read"),
    "definition.retroactive": (
        "定义变更只能从尚未开始的报告期生效（最早 {first}）",
        "a definition change can only apply from a period not yet begun (at the earliest {first})",
    ),
    "calendar.after_period": (
        "截止日期须晚于报告期结束日 {end}",
        "the due date must fall after the period ends on {end}",
    ),
    "request.scope": ("范围须在本部门辖区内", "the scope must lie inside the department's jurisdiction"),
    "request.expiry": ("截止日期不能早于首个报告期", "the expiry must not precede the first period"),
    "request.empty": (
        "至少选择一个已有字段或提出一个新字段",
        "choose at least one existing field or propose a new one",
    ),
    "request.not_editable": ("申请已提交或已处理，不能再修改", "the request was already submitted or decided"),
    "request.not_under_review": ("申请不在审核中", "the request is not under review"),
    "request.endpoint": (
        "推送地址不是本部门的接收地址，请从列表中选择",
        "the push endpoint is not one of the department's; choose one from the list",
    ),
    "request.field_unknown": (
        "所选的已有字段不存在或已停用，请重新选择",
        "a chosen existing field does not exist or was retired; choose again",
    ),
    "request.sheet": ("该表不存在或已停用，请重新选择", "no such sheet, or it was retired; choose again"),
    "request.code_repeated": ("与新增字段 {other} 的编码相同", "has the same code as new field {other}"),
    "request.decision": ("请选择“批准”或“不予批准”", "choose “Approve” or “Reject”"),
    "request.choice": (
        "请选择“新建”、“复用”某个已有字段或“不予批准”",
        "choose “Create it”, “Reuse” an existing field or “Do not approve”",
    ),
    "definition.code_taken": (
        "编码“{code}”已被目录中的字段使用，请复用该字段",
        "the code “{code}” is already used in the catalogue; reuse that field",
    ),
    # periods
    "period.format": (
        "“{value}”不是有效的报告期，应为 2026、2026Q4 或 202611 的形式",
        "“{value}” is not a valid period; use the form 2026, 2026Q4 or 202611",
    ),
    "period.year": ("年份须在 {min} 至 {max} 之间", "the year must be between {min} and {max}"),
    "period.type": ("报告期类型须为 {expected}", "the period must be {expected}"),
    "period.range": (
        "起始报告期 {first} 晚于截止报告期 {last}",
        "the first period {first} is after the last period {last}",
    ),
    "date.range": ("开始日期 {first} 晚于结束日期 {last}", "the start date {first} is after the end date {last}"),
    "area.unknown": ("没有编码为“{code}”的行政区划", "there is no area with the code “{code}”"),
    # field definitions
    "definition.type": ("未知的字段类型“{type}”", "unknown field type “{type}”"),
    "definition.constraint": (
        "类型“{type}”不支持约束“{constraint}”",
        "the type “{type}” does not take the constraint “{constraint}”",
    ),
    # labelled with the constraint's name as its input shows it ("最大值：须为数字")
    "definition.constraint_value": ("{rule_zh}", "{rule_en}"),
    "definition.min_max": ("下限不能大于上限", "min must not be greater than max"),
    "definition.code": (
        "编码须以小写字母开头，只含小写字母、数字和下划线，最长 40 个字符",
        "the code must start with a lowercase letter and contain only lowercase letters, digits "
        "and underscores, at most 40 characters",
    ),
}


# Why a period is not open for filing: one code (`period.not_open`) for clients, a message per rule for people,
# each naming the period or the date it refuses.
NOT_OPEN: dict[str, tuple[str, str]] = {
    "not_begun": (
        "报告期 {period} 尚未开始，{start} 起才能填报",
        "the period {period} has not begun; it can be filed from {start}",
    ),
    "not_asked": (
        "本单位的一张表在报告期 {period} 不要求填报此表（没有订阅需要）",
        "your one table does not ask for this sheet in the period {period} (no subscription needs it)",
    ),
    "after_latest": (
        "记录日期 {day} 晚于可填报的最晚日期 {latest}（今天起 {lead} 天内）",
        "the record date {day} is after the latest date that can be filed, {latest} ({lead} days from today)",
    ),
    "after_today": (
        "记录日期 {day} 晚于今天（{today}），不能填报",
        "the record date {day} is after today ({today}) and cannot be filed",
    ),
}


def render(rule: str, params: dict[str, Any]) -> tuple[str, str]:
    zh, en = NOT_OPEN[params["why"]] if rule == "period.not_open" else MESSAGES[rule]
    return zh.format(**params), en.format(**params)


class Problem(Exception):
    """One rejected value or definition: which field, which rule, and the message in zh and en."""

    def __init__(
        self, *, field: str, rule: str, params: dict[str, Any] | None = None, label_zh: str = "", label_en: str = ""
    ) -> None:
        self.field, self.rule, self.params = field, rule, params or {}
        self.label_zh, self.label_en = label_zh, label_en
        super().__init__(self.message)

    def labelled(self, label_zh: str, label_en: str) -> Problem:
        self.label_zh, self.label_en = label_zh, label_en
        return self

    @property
    def message_zh(self) -> str:
        text = render(self.rule, self.params)[0]
        return f"{self.label_zh}：{text}" if self.label_zh else text

    @property
    def message_en(self) -> str:
        text = render(self.rule, self.params)[1]
        return f"{self.label_en}: {text}" if self.label_en else text

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.rule, "message_zh": self.message_zh, "message_en": self.message_en}


def error_body(problems: list[Problem], **extra: Any) -> dict[str, Any]:
    """The JSON every refusal is answered with: the first problem's code and messages, then all of them."""
    first = problems[0]
    return {
        "code": first.rule,
        "message_zh": first.message_zh,
        "message_en": first.message_en,
        "errors": [p.as_dict() for p in problems],
        **extra,
    }


class Problems(Exception):
    """Several problems found together; nothing was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))

    def by_field(self) -> dict[str, list[Problem]]:
        out: dict[str, list[Problem]] = {}
        for problem in self.problems:
            out.setdefault(problem.field, []).append(problem)
        return out

    def as_list(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in self.problems]


# One rule for every text OneTable keeps: what PostgreSQL cannot store (a NUL; an unpaired surrogate is not
# UTF-8), and what XML 1.0 cannot hold, so that no stored text can corrupt an XLSX export (the other C0 control
# characters but tab, newline and carriage return; U+FFFE and U+FFFF). C1 controls and DEL are legal XML.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def storable(text: str) -> bool:
    """Whether OneTable keeps `text` as it is: no NUL, no other C0 control but tab and newlines, no unpaired
    surrogate, no U+FFFE or U+FFFF."""
    return _UNSTORABLE.search(text) is None


def drop_unstorable(text: str) -> str:
    """`text` without the characters `storable` refuses (all invisible or invalid): what a writer of XML (an XLSX
    export) puts down for text stored before the rule, or behind its back."""
    return _UNSTORABLE.sub("", text)


MAX_DEPTH = 32  # a submission's body is three levels deep; deeper is refused before anything recurses on it


def unstorable(data: Any, path: str = "", depth: int = 0) -> list[Problem]:
    """A Problem for each string in `data` (keys too, through dicts and lists) that cannot be stored,
    named by its path (`values.activity_title`, `reason`), so a request is refused whole and by name
    instead of failing half-way at the database; and nesting deeper than MAX_DEPTH."""
    if isinstance(data, str):
        return [] if storable(data) else [Problem(field=path or "body", rule="text.character")]
    problems: list[Problem] = []
    if isinstance(data, (dict, list)) and depth >= MAX_DEPTH:
        return [Problem(field="body", rule="body.too_deep")]
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not storable(key):
                problems.append(Problem(field=path or "body", rule="text.character"))
            else:
                problems.extend(unstorable(value, name, depth + 1))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            problems.extend(unstorable(item, f"{path}[{index}]", depth + 1))
    return problems
