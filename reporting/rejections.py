"""Reporting's rules: one code and one pair of message templates each, in Chinese first and English second.

Pages, the API and Excel uploads all raise and render the same `core.problems.Problem`; the rules of the
HTTP layer (unstorable text, a body's length and depth) are core's own, in `core.problems`.
"""

from __future__ import annotations

from core.problems import (
    MAX_DEPTH,
    Problem,
    Problems,
    Words,
    add_messages,
    blank,
    drop_unstorable,
    error_body,
    listing,
    named,
    render,
    storable,
    too_long,
    trimmed,
    unstorable,
)

__all__ = [
    "MAX_DEPTH",
    "Problem",
    "Problems",
    "Words",
    "blank",
    "drop_unstorable",
    "error_body",
    "listing",
    "named",
    "render",
    "storable",
    "too_long",
    "trimmed",
    "unstorable",
]

MESSAGES: dict[str, tuple[str, str]] = {
    # values
    "required": ("必填", "is required"),
    "integer.invalid": ("须为整数", "must be a whole number"),
    "decimal.invalid": ("须为数字", "must be a number"),
    "decimal.places": ("最多保留 {places} 位小数", "must have at most {places} decimal place{s}"),
    "min": ("不能小于 {min}", "must be at least {min}"),
    "max": ("不能大于 {max}", "must be at most {max}"),
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
    "na.with_value": ("不能同时填写数值和“不适用”", "cannot be both answered and not applicable"),
    "unknown": ("不是本表的字段", "is not a field of this table"),
    # a filing's `sheet` that is none of the unit's one table: unknown, retired, or filed by units of another level
    "sheet.not_in_table": (
        "不是本单位一表通中的表，请从一表通中选择",
        "is not a sheet of this unit's one table; choose one from the one table",
    ),
    # the one "already submitted" message: the API's 409, the page's notice and an Excel upload's refusal
    "already_submitted": (
        "本表本期已提交，如需修改请更正",
        "was already submitted for this period; correct it instead",
    ),
    # a form posted for a period another tab or phone filed meanwhile: what was typed is kept on the page
    "already_submitted.kept": (
        "本表本期已提交，您在此页填写的内容未保存；如需修改请更正",
        "this sheet was already submitted for this period; what you typed on this page was not saved. To change "
        "it, submit a correction",
    ),
    # a correction posted on a version another correction replaced meanwhile: what was typed is kept on the page
    "version.conflict.kept": (
        "本条数据已由他人更正为第 {current} 版，您的更正未保存；您填写的内容和原因保留在下方，请对照后重新提交",
        "this was corrected meanwhile (it is now version {current}); your correction was not saved. What you "
        "typed and your reason are kept below: check them and submit again",
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
    "correction.unchanged": ("没有任何修改，未保存新版本", "nothing changed: no new version was saved"),
    # an offline filing made on a form that has changed since (reporting/filing/offline.py)
    "form.changed": (
        "填写后本表已调整（字段或校验规则有变化），未提交。请按新表核对后重新提交",
        "the form changed after these values were filled in (its fields or rules differ); nothing was filed: "
        "check them against the new form and submit again",
    ),
    "file.not_xlsx": ("不是有效的 Excel（.xlsx）文件", "is not a valid Excel (.xlsx) workbook"),
    "file.not_template": ("不是本系统下载的模板", "is not a template downloaded from OneTable"),
    "file.other_table": ("模板的单位或报告期与本页不符", "the template is for another unit or period"),
    "cell.formula": (
        "单元格为公式且没有计算结果，请填写数值",
        "the cell holds a formula without a computed value; type the value",
    ),
    "file.too_many_records": (
        "工作表「{worksheet}」有 {rows} 条台账记录，超过每次上传最多 {max} 条的限制，未保存任何内容；"
        "请分成几个文件上传",
        "worksheet “{worksheet}” holds {rows} ledger records, more than the {max} one upload may hold: nothing was "
        "stored; upload them in several files",
    ),
    "file.empty": ("模板中没有填写任何数值，未保存", "the template holds no values: nothing was stored"),
    "body.object": ("须为 JSON 对象", "must be a JSON object"),
    "body.unknown_key": (
        "本操作不接受键“{key}”，只接受：{known}",
        "this operation does not take the key “{key}”; it takes only: {known}",
    ),
    "body.duplicate_key": (
        "JSON 对象中的键“{key}”出现了不止一次",
        "the key “{key}” appears more than once in one JSON object",
    ),
    "body.encoding": (
        "请求体不是有效的 UTF-8（第 {offset} 个字节起）",
        "the body is not valid UTF-8 (from byte {offset})",
    ),
    "body.media_type": (
        "请求体须为 JSON（Content-Type: application/json）",
        "the request body must be JSON (Content-Type: application/json)",
    ),
    "ids.list": ("须为非空的投递编号列表，如 dlv_123", "must be a non-empty list of delivery ids such as dlv_123"),
    "ids.item": ("不是投递编号（应为 dlv_123 的形式）", "is not a delivery id (use the form dlv_123)"),
    "body.too_large": ("请求体不能超过 {mb} MB", "the request body must not exceed {mb} MB"),
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
        "游标无效，须为上一页返回的 next",
        "the cursor is not valid: use the `next` of the previous page",
    ),
    "page.cursor": (
        "翻页链接无效，请回到第一页重新翻页",
        "the link to this page is not valid; go back to the first page and page through again",
    ),
    "feed.limit": ("须为 1 至 {max} 的整数", "must be a whole number from 1 to {max}"),
    "sheet.missing": ("没有这张表，请从列表中选择", "no such sheet; choose one from the list"),
    "sheet.unknown": ("没有您可查询的该表数据", "no data of this sheet is available to you"),
    "fields.unknown": ("“{code}”不是本表中您可查询的字段", "“{code}” is not a field of this sheet that you may read"),
    "field.already_retired": (
        "该字段已自 {day} 起停用，不能再次停用",
        "this field is already retired from {day}: it cannot be retired again",
    ),
    "definition.unchanged": (
        "新定义与 {period} 起原本适用的定义完全相同：没有任何改动",
        "nothing changed: the new definition is the same as the one that already applies from {period}",
    ),
    "definition.revised": (
        "{period} 起已有修订（{day}，原因：{reason}），同一报告期只能修订一次；如需再改，请从之后的报告期修订",
        "a revision from {period} already exists ({day}, reason: {reason}); a period is revised once: revise "
        "from a later period instead",
    ),
    "definition.retroactive": (
        "定义变更只能从尚未开始的报告期生效（最早 {first}）",
        "a definition change can only apply from a period not yet begun (at the earliest {first})",
    ),
    "calendar.lead": (
        "提前开放天数须为 0 到 {max} 之间的整数",
        "the days open early must be a whole number from 0 to {max}",
    ),
    "calendar.lock_before_due": (
        "锁定日期不能早于截止日期：截止后天数须为 0 或更大",
        "the lock date cannot be before the due date: the days after the due date must be 0 or more",
    ),
    "calendar.lock_without_due": (
        "须先设定截止日期规则，才能设定锁定",
        "set the due-date rule first: a lock is counted from the due date",
    ),
    "calendar.unchanged": (
        "日历规则没有任何修改，未保存",
        "nothing changed: the calendar's rules are as they were, and nothing was saved",
    ),
    "unlock.reason": (
        "须为：逾期首次填报、更正、答复询问的更正、部门数据补供",
        "must be one of: late first filing, correction, correction answering a question, register supply",
    ),
    "unlock.holder": (
        "部门数据补供须为数源部门解锁，其他事由须为填报单位解锁",
        "a register supply is unlocked for a source department, every other reason for a unit",
    ),
    "unlock.not_filed": (
        "{unit}（{code}）不填报“{sheet_zh}”，没有可为其解锁的报告期",
        "{unit} ({code}) does not file “{sheet_en}”, so there is no period to unlock for it",
    ),
    "unlock.duplicate": (
        "{holder} 的报告期 {period} 已解锁至 {until}（说明：{note}），不能重复解锁；如需延长，请先撤销该解锁",
        "the period {period} is already unlocked for {holder} until {until} (why: {note}); it cannot be unlocked "
        "twice: to extend it, withdraw that unlock first",
    ),
    "unlock.not_source": (
        "{department}不是“{sheet_zh}”任何字段的数源部门，没有可补供的数据，不能为其解锁",
        "{department} is the source of no field of “{sheet_en}”: it has nothing to supply, so it cannot be unlocked",
    ),
    "unlock.unit": ("没有代码为“{code}”的填报单位", "no unit has the code “{code}”"),
    "unlock.source": ("没有代码为“{code}”的数源部门", "no source department has the code “{code}”"),
    # an unlock lifts a lock: a period that has not begun, or is not (yet) locked, has none to lift
    "unlock.not_begun": (
        "报告期 {period} 尚未开始（{start} 开始），没有锁定，不能解锁",
        "the period {period} has not begun (it begins on {start}): it is not locked, so it cannot be unlocked",
    ),
    "unlock.not_locked": (
        "报告期 {period} 尚未锁定（{locked} 之后才锁定），不能解锁",
        "the period {period} is not locked yet (it locks after {locked}), so it cannot be unlocked",
    ),
    "unlock.never_locks": (
        "报告期 {period} 不会锁定（该报告周期未设定锁定规则），不能解锁",
        "the period {period} never locks (its cadence has no lock rule), so it cannot be unlocked",
    ),
    "unlock.ended": (
        "此解锁已结束（有效期至 {until} 或已撤销），无需撤销",
        "this unlock has already ended (it held until {until}, or was withdrawn): there is nothing to withdraw",
    ),
    "question.not_received": (
        "您的部门未订阅此单位在该报告期的此字段，不能询问",
        "your department does not receive this field for this unit and period, so it cannot ask about it",
    ),
    "question.version": ("没有此版本：须为 1 到 {current}", "no such version: it must be from 1 to {current}"),
    "question.not_yours": (
        "此询问不是向本单位提出的，只有被询问的单位可以答复",
        "this question was not asked of your unit: only the unit asked can answer it",
    ),
    "question.answer": (
        "须给出更正后的数值，或写明解释（二选一）",
        "give the corrected value or an explanation (one of the two)",
    ),
    "question.answered": ("此询问已答复", "this question has already been answered"),
    "question.same_value": (
        "与当前数值相同；如数值无误，请写明解释",
        "is the current value already; if it is right, give an explanation instead",
    ),
    # an exception moves a due date that has not gone by yet, to a day that has not: one gone by is history
    # (who filed late), and the lock counts from it; a late filing is let in one unit at a time by an unlock
    "calendar.due_passed": (
        "报告期 {period} 的截止日期 {due} 已过，不能再改；须逾期填报的单位，请在下方“解锁已锁定的报告期”中逐个解锁",
        "the due date of the period {period} ({due}) has passed and can no longer be moved; to let a unit file "
        "late, unlock the period for that unit under “Unlock a locked period” below",
    ),
    "calendar.due_past": ("截止日期不能早于今天（{today}）", "the due date cannot be before today ({today})"),
    "calendar.ledger": (
        "台账随时登记记录，没有截止日期；台账记录何时锁定，在“台账记录 · 锁定”中设定",
        "a ledger takes records at any time and has no due date; when its records lock is set under "
        "“Ledger records · Lock”",
    ),
    "calendar.due_far": (
        "不能晚于报告期 {period} 结束后一年（{latest}）",
        "must not be more than a year after the period {period} ends ({latest})",
    ),
    "calendar.after_period": (
        "截止日期须晚于报告期结束日 {end}",
        "the due date must fall after the period ends on {end}",
    ),
    "param.repeated": (
        "参数 {name} 只能给出一次（给出了 {count} 次）",
        "the parameter {name} may be given only once (it was given {count} times)",
    ),
    "request.scope": ("范围须在本部门辖区内", "the scope must lie inside the department's jurisdiction"),
    "request.expiry": ("截止日期不能早于首个报告期", "the expiry must not precede the first period"),
    "request.empty": (
        "至少选择一个已有字段、提出一个新字段或申请提供某个字段的数据",
        "choose at least one existing field, propose a new one or offer to supply a field",
    ),
    "request.not_editable": ("申请已提交或已处理，不能再修改", "the request was already submitted or decided"),
    "request.not_under_review": ("申请不在审核中", "the request is not under review"),
    "request.endpoint": (
        "推送地址不是本部门的接收地址，请从列表中选择",
        "the push endpoint is not one of the department's; choose one from the list",
    ),
    # a webhook endpoint's URL the sender would refuse: `reason` is what `webhooks.resolve_allowed` said
    "endpoint.url": ("不能使用此地址：{reason}", "cannot be used: {reason}"),
    "request.reuse_unfit": (
        "所选的已有字段不是审核页为该新增字段列出的可复用字段（类型、填报周期和填报单位层级须相同），请重新选择",
        "the chosen existing field is not one the review offered to reuse for this proposed field (same type, "
        "cadence and level of units); choose again",
    ),
    "request.field_unknown": (
        "所选的已有字段不存在或已停用，请重新选择",
        "a chosen existing field does not exist or was retired; choose again",
    ),
    "request.sheet": ("该表不存在或已停用，请重新选择", "no such sheet, or it was retired; choose again"),
    "request.code_repeated": ("与新增字段 {other} 的编码相同", "has the same code as new field {other}"),
    "request.decision": ("请选择“批准”或“不予批准”", "choose “Approve” or “Reject”"),
    "request.source_taken": (
        "字段“{name}”已由{department}提供（一数一源），不能再指定其他数源部门",
        "the field “{name}” is already supplied by {department} (one source per fact); it cannot have a second",
    ),
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
        "“{value}”不是有效的报告期，应为 2026、2026Q4（或 2026-Q4）、202611（或 2026-11）的形式",
        "“{value}” is not a valid period; use the form 2026, 2026Q4 (or 2026-Q4) or 202611 (or 2026-11)",
    ),
    # the DHIS2 face and register supplies: the notation alone, as the standard writes it
    "period.notation": (
        "“{value}”须写作 {notation}：此处报告期只接受 2026、2026Q4、202611 的写法",
        "“{value}” must be written {notation}: here a period takes only the form 2026, 2026Q4 or 202611",
    ),
    "period.adx_format": (
        "“{value}”不是有效的 ADX 报告期，应写该期第一天和时长，如 2026-10-01/P3M（季度）、2026-11-01/P1M（月）或 "
        "2026-01-01/P1Y（年）",
        "“{value}” is not a valid ADX period; write the period's first day and its length, such as 2026-10-01/P3M "
        "(a quarter), 2026-11-01/P1M (a month) or 2026-01-01/P1Y (a year)",
    ),
    "period.year": ("年份须在 {min} 至 {max} 之间", "the year must be between {min} and {max}"),
    # params from `period_type` below: the type's name in each language, never one language's in the other's
    "period.type": ("报告期类型须为{expected_zh}", "the period must be {expected_en}"),
    "period.range": (
        "起始报告期 {first} 晚于截止报告期 {last}",
        "the first period {first} is after the last period {last}",
    ),
    # a read of a period that has not begun (its first day after today, as the chart's axis and filing decide
    # "begun": `Period.has_begun`): nobody could have filed it, so "not filed" would read as "late"
    "period.not_begun": (
        "报告期 {period} 尚未开始（{start} 开始），还没有单位能够填报",
        "the period {period} has not begun (it begins on {start}): no unit can have filed it yet",
    ),
    # the chart's period: one on its axis, from the first period filed to the current one
    "chart.period": (
        "报告期 {period} 不在图表的报告期范围内（{first} 至 {last}）",
        "the period {period} is not on the chart (from {first} to {last})",
    ),
    "action.unknown": (
        "本页没有“{action}”这一操作，未做任何改动；可用的操作：{known}",
        "this page has no action “{action}”: nothing was changed; its actions are: {known}",
    ),
    "date.span": (
        "时间范围不能超过 {years} 年（{first} 至 {last}），请缩短",
        "the range may span at most {years} years ({first} to {last}); shorten it",
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
    # register supplies and disputes (sources, 一数一源)
    "source.unknown_field": ("目录中没有代码为“{code}”的字段", "the catalogue has no field with the code “{code}”"),
    "source.unknown_unit": ("没有代码为“{code}”的填报单位", "no reporting unit has the code “{code}”"),
    "source.not_source": (
        "本部门不是字段“{code}”的数源部门，不能提供它的值",
        "your department is not the source of the field “{code}” and cannot supply its values",
    ),
    "source.outside_jurisdiction": (
        "填报单位“{code}”不在本部门辖区内",
        "the unit “{code}” is outside your department's jurisdiction",
    ),
    "source.unit_level": (
        "表“{sheet}”不由这一层级的单位填报",
        "the sheet “{sheet}” is not filed by units of this level",
    ),
    "source.retired": ("字段“{code}”在报告期 {period} 已停用", "the field “{code}” is retired in the period {period}"),
    "source.duplicate": (
        "与第 {first} 行是同一单位、报告期和字段，但值不同",
        "has the same unit, period and field as row {first} but a different value",
    ),
    "source.ledger": (
        "台账“{sheet}”的记录须带记录编号（record）",
        "a record of the ledger “{sheet}” needs its record id (record)",
    ),
    "source.record": (
        "记录编号（record）须为不超过 100 个字符的文字",
        "the record id (record) must be text of at most 100 characters",
    ),
    "source.record_date": (
        "记录“{record}”缺少{date}：台账记录的每次提供都须带上日期",
        "the record “{record}” has no {date_en}: each supply of a ledger record carries its date",
    ),
    "source.record_conflict": (
        "记录编号“{record}”已属于另一填报单位或另一台账",
        "the record id “{record}” already belongs to another unit or another ledger",
    ),
    "source.record_duplicate": (
        "与第 {first} 行是同一记录和字段，但值不同",
        "has the same record and field as row {first} but a different value",
    ),
    "supply.row": (
        "每行须为含 unit、period、field、value 的对象",
        "each row must be an object with unit, period, field and value",
    ),
    "supply.value_required": (
        '须填写数值（value）；如要撤回部门数据，请写 "delete": true',
        'a value is required; to withdraw the register\'s value, say "delete": true',
    ),
    "supply.values": ("须为数据行的数组", "must be an array of rows"),
    "supply.code": ("须为代码（文字或整数）", "must be a code (text or a whole number)"),
    "supply.json": ("不是有效的 JSON 数据", "is not valid JSON"),
    "supply.job_failed": (
        "导入意外中止（错误已记入日志），未保存任何数据；不会自动重试，请联系管理员",
        "the import stopped unexpectedly (the error is logged) and nothing was stored; it is not retried: "
        "ask an administrator",
    ),
    "supply.job_interrupted": (
        "导入在处理中被中断了 {attempts} 次，已停止重试；请检查文件（例如是否过大，可拆分后再上传），或联系数据办",
        "the import was interrupted {attempts} times while it ran and will not be retried: check the file (is it "
        "very large? split it and upload the parts), or contact the data office",
    ),
    "export.job_interrupted": (
        "导出在处理中被中断了 {attempts} 次，已停止重试；请缩小导出范围（例如少选几个报告期，或选一个较小的地区）"
        "后重新导出，或联系数据办",
        "the export was interrupted {attempts} times while it ran and will not be retried: export less (fewer "
        "periods, a smaller area) and try again, or contact the data office",
    ),
    "report.job_interrupted": (
        "报表生成过程中被中断了 {attempts} 次，已停止重试；请稍后重新生成，或联系数据办",
        "generating the report was interrupted {attempts} times and will not be retried: generate it again later, "
        "or contact the data office",
    ),
    "supply.csv": ("不是有效的 UTF-8 编码 CSV 文件", "is not a valid UTF-8 CSV file"),
    "supply.csv_cell": (
        "有一个单元格超过 {max} 个字符，无法读取；请检查是否漏了引号",
        "a cell is longer than {max} characters and cannot be read; check for a missing quote",
    ),
    "supply.header": (
        "首行须为列名 unit、period、field、value",
        "the first row must name the columns unit, period, field and value",
    ),
    "supply.media_type": (
        "请求体须为 JSON（application/json）或 CSV（text/csv）",
        "the request body must be JSON (application/json) or CSV (text/csv)",
    ),
    "register.changed": (
        "{source}在您打开本页后更新了数值：{old} → {new}。现已显示新数值，请核对后再次提交（尚未保存）；"
        "如有异议，请填写您认为正确的数值和理由",
        "{source} supplied another value since you opened this page: {old} → {new}. The new value is shown now: "
        "check it and submit again (nothing was saved); to dispute it, give the value you believe is right and the "
        "reason",
    ),
    "register.delete": (
        "此数值由{source}提供，不能删除；如认为有误，请提出异议",
        "this value is supplied by {source}: it cannot be deleted; dispute it instead",
    ),
    "dispute.reason": ("对部门数据提出异议须说明理由", "disputing a register value needs a reason"),
    "dispute.value": (
        "异议须填写您认为正确的数值（与部门数据不同）；如部门数据无误，请清空异议理由",
        "a dispute must give the value you believe is right (not the register's); if the register is right, "
        "clear the dispute reason",
    ),
    "dispute.answer": ("须更正数值，或说明原值为何成立", "correct the value, or say why the register value stands"),
    "dispute.both": (
        "请二选一：更正数值，或说明原值为何成立，不能同时填写",
        "give a corrected value or an answer, not both",
    ),
    "dispute.answered": ("此异议已答复", "this dispute has already been answered"),
    "dispute.same_value": (
        "与部门现有数值相同；如原值成立，请说明理由",
        "is the register's value already; if it stands, say why instead",
    ),
    # indicators' formulas (reporting/catalogue/expressions.py) and their definitions
    "formula.required": ("须填写公式", "a formula is required"),
    "formula.too_long": ("公式不能超过 {max} 个字符", "the formula must be at most {max} characters"),
    "formula.too_deep": ("公式嵌套过深（最多 {max} 层）", "the formula is nested too deeply (at most {max} levels)"),
    "formula.syntax": (
        "公式第 {at} 个字符处有语法错误：“{near}”",
        "the formula has a syntax error at character {at}: “{near}”",
    ),
    "formula.unknown": ("“{code}”不是目录中的字段或指标", "“{code}” is not a field or indicator of the catalogue"),
    "formula.unknown_ledger": ("“{code}”不是台账", "“{code}” is not a ledger"),
    "formula.not_in_ledger": ("“{code}”不是台账“{ledger}”的字段", "“{code}” is not a field of the ledger “{ledger}”"),
    "formula.ledger_field": (
        "台账字段“{code}”只能在 count({ledger} where …) 或 sum({ledger}.{code}) 中使用",
        "the ledger field “{code}” can only be used inside count({ledger} where …) or sum({ledger}.{code})",
    ),
    "formula.nested_aggregate": ("汇总中不能再嵌套汇总", "an aggregate cannot be nested inside another"),
    "formula.type": (
        "类型不符：“{op}”需要{expected}，得到的是{got}",
        "type mismatch: “{op}” needs {expected} but got {got}",
    ),
    "formula.not_number": (
        "指标的公式须得出数值，而不是{got}",
        "an indicator's formula must give a number, not {got}",
    ),
    "formula.self_reference": ("公式引用了指标自身“{code}”", "the formula refers to its own indicator “{code}”"),
    "formula.cycle": (
        "公式引用的指标“{code}”又引用了本指标，形成循环",
        "the indicator “{code}” the formula refers to refers back to this one: a cycle",
    ),
    "formula.number_too_large": (
        "公式中的数字“{value}”过大：整数部分最多 {digits} 位",
        "the number “{value}” in the formula is too large: at most {digits} digits before the point",
    ),
    "formula.division_by_zero": (
        "公式不能除以零：除数是恒为 0 的常量",
        "the formula divides by zero: the divisor is a constant that is always 0",
    ),
    "formula.mixed_levels": (
        "按单位汇总（sum(字段)、count(units)）不能与单个单位的字段混用",
        "roll-ups over units (sum(field), count(units)) cannot be mixed with one unit's fields",
    ),
    "formula.period_types": (
        "公式中的字段报告周期不同（{types}）",
        "the formula's fields have different reporting cadences ({types})",
    ),
    "indicator.rollup": ("须为下列汇总方式之一：{choices}", "must be one of these roll-ups: {choices}"),
    "indicator.ratio": (
        "“合计之比”汇总要求公式为 a / b 的形式",
        "the roll-up “ratio of sums” needs a formula of the form a / b",
    ),
    "indicator.area_rollup": (
        "含按单位汇总的公式，汇总方式须为“按公式”；反之亦然",
        "a formula with roll-ups over units needs the roll-up “by formula”, and only such a formula may use it",
    ),
    "indicator.retired": ("此指标已停用", "this indicator is retired"),
    "threshold.begun": (
        "生效日期须晚于今天（{first}）：已开始的报告期沿用原门槛",
        "the day it applies from must be after today ({first}): periods already begun keep their threshold",
    ),
    "threshold.set": (
        "{day} 起已设定最少 {units} 个单位（原因：{reason}）；已设定的门槛留作记录，不能覆盖，请另选生效日期",
        "a threshold of {units} units from {day} is already set (reason: {reason}); a threshold set stays on "
        "record and cannot be overwritten: choose another day",
    ),
    "indicator.not_retired": ("此指标未停用，无需恢复", "this indicator is not retired: there is nothing to reinstate"),
    "indicator.in_use": (
        "指标 {codes} 仍在使用此指标，请先修订或停用它们",
        "the indicators {codes} still use it; revise or retire them first",
    ),
    "indicator.code_taken": (
        "编码“{code}”已被目录中的字段或指标使用",
        "the code “{code}” is already used by a field or an indicator of the catalogue",
    ),
    # roll-ups (reporting/reads/rollups.py) and derived roll-up fields
    "aggregate.field": (
        "不是您可查询汇总的字段（须订阅该字段，且订阅范围包含所选区域）",
        "is not a field whose aggregates you may read (a subscription to it whose scope contains the area)",
    ),
    "aggregate.none": ("该字段不汇总（目录中汇总方式为“不汇总”）", "does not roll up (its aggregation is “none”)"),
    "aggregate.ledger": (
        "台账字段按记录汇总，请使用指标（如 count、sum）",
        "is a ledger field: ledgers are summed by indicators (count, sum), not rolled up",
    ),
    "aggregate.level": (
        "层级须在所选区域及其下级之间，且不低于该字段的填报层级",
        "must be the area's own level or one below it, not below the level the field is filed at",
    ),
    "aggregate.area": ("不是您辖区内的区域", "is not an area inside your jurisdiction"),
    "aggregate.indicator": (
        "不是您可查询汇总的指标（须在该层级订阅该指标，且订阅范围包含所选区域）",
        "is not an indicator whose aggregates you may read (a subscription to it at this level or below whose scope "
        "contains the area)",
    ),
    "aggregate.retired": ("该指标在此报告期前已停用", "was retired before this period began"),
    "chart.field": (
        "不是您可查看图表的字段或指标（须订阅该字段且其可汇总，或订阅指标所读的全部字段）",
        "is not a field or indicator you may chart (a field you subscribe to that rolls up, or an indicator whose "
        "every field you subscribe to)",
    ),
    "aggregate.one_of": ("须给出 field 或 indicator 之一", "give exactly one of field and indicator"),
    # aggregate-only subscriptions asked for in data requests (reporting/services/requests.py)
    "request.level": (
        "须为所选范围本身的层级或其下级",
        "must be the scope's own level or a level below it",
    ),
    "request.aggregations": (
        "须至少选择一种（合计、计数、平均、比率），且仅在选择了汇总层级时选择",
        "choose at least one aggregation (sum, count, mean, ratio), and only with an aggregate level",
    ),
    "request.indicator_unknown": ("不是目录中的有效指标", "is not an active indicator of the catalogue"),
    "request.indicator_level": (
        "指标按区域汇总，须选择汇总层级",
        "an indicator is a figure over units: choose the aggregate level it is read at",
    ),
    "request.push_coverage": (
        "须为 1 至 100 的整数，且须有汇总层级和推送地址",
        "must be a whole number from 1 to 100, with an aggregate level and a webhook endpoint",
    ),
    "aggregate.indicator_form": (
        "该指标不能按区域汇总（须为同一层级单位填报的字段上的公式）",
        "cannot be rolled up over areas (it must be a formula over fields filed by units of one level)",
    ),
    "aggregate.indicator_levels": (
        "该指标读取的字段或台账没有共同的填报层级（{fields}）：同一单位没有公式所需的全部数值，无法逐单位计算后汇总",
        "reads fields or ledgers that no one unit level files ({fields}): no unit holds every value the formula "
        "needs, so it cannot be computed unit by unit and rolled up",
    ),
    "rollup_of.invalid": (
        "汇总来源须为同一报告期类型、下级单位填报的数值或是否字段，且本字段须为数值字段",
        "must be a numeric or yes/no field of the same period type filed by units of a lower level, "
        "and this field must be numeric",
    ),
    "aggregation.invalid": ("该字段类型不能使用此汇总方式", "is not an aggregation this field's type allows"),
    # report templates (reporting/services/reports.py)
    "report.file": (
        "须为 Excel 工作簿（.xlsx）；CSV、旧版 .xls 或损坏的文件不能作为报表模板",
        "must be an Excel workbook (.xlsx); CSV, old .xls or a damaged file cannot be a report template",
    ),
    # a finished export or report whose file the web server cannot find (reporting/reads/stored_files.py)
    "file.gone": (
        "文件“{name}”不在本服务器上（已被删除，或生成它的后台进程与网站不共用数据目录 ONETABLE_DATA_DIR），请重新生成，"
        "仍不行请联系系统管理员",
        "the file “{name}” is not on this server (it was deleted, or the worker that wrote it does not share the data "
        "folder ONETABLE_DATA_DIR with the web server): generate it again, and if that fails, tell the administrator",
    ),
    "report.too_large": ("文件不能超过 {max} MB", "the file must be at most {max} MB"),
    "report.no_cells": (
        "模板中没有可填写的单元格：须在标签右侧或表头下方留出空白单元格",
        "the template has no cell to fill: leave blank cells right of a label or under header labels",
    ),
    "report.label_too_long": (
        "工作表“{sheet}”第 {row} 行第 {column} 列（{cell}）的标签（表头与行标题）超过 {max} 个字符，未保存："
        "请在模板中缩短后重新上传",
        "the label of sheet “{sheet}”, row {row}, column {column} ({cell}) (its header and row label) is longer than "
        "{max} characters; nothing was stored: shorten it in the template and upload again",
    ),
    "report.too_many_cells": ("可填写的单元格不能超过 {max} 个", "at most {max} cells can be filled"),
    "report.choice": (
        "单元格 {cell} 不能填“{code}”：不是您在本模板层级可查询汇总的字段或指标",
        "cell {cell} cannot be filled with “{code}”: not a field or indicator whose aggregates you may read "
        "at this template's level",
    ),
    "report.cell_area": (
        "单元格 {cell} 的区域不在您的辖区内",
        "the area of cell {cell} is not inside your jurisdiction",
    ),
    "report.cell": ("不是此模板的单元格", "is not a cell of this template"),
    "report.area": ("不是您辖区内的区域", "is not an area inside your jurisdiction"),
    "report.level": ("层级须为您的辖区或其下级", "must be your jurisdiction's level or one below it"),
    "report.coverage": ("须为 1 到 100 之间的整数", "must be a whole number from 1 to 100"),
    "report.nothing_uncovered": (
        "没有未被目录覆盖的单元格，无需新的用数申请",
        "no cell is left uncovered by the catalogue: no new data request is needed",
    ),
}


# The kinds of period a "period.type" refusal asks for, by the value of `Cadence` (or "periodic": any but a ledger).
PERIOD_TYPES: dict[str, tuple[str, str]] = {
    "monthly": ("月报（如 202611）", "monthly (such as 202611)"),
    "quarterly": ("季报（如 2026Q4）", "quarterly (such as 2026Q4)"),
    "yearly": ("年报（如 2026）", "yearly (such as 2026)"),
    "ledger": ("台账记录所在的月份（如 202611）", "the month of the ledger's records (such as 202611)"),
    "periodic": ("定期报表（不是台账）", "a periodic sheet's (not a ledger's)"),
}


def period_type_params(expected: str) -> dict[str, str]:
    """The params of a "period.type" refusal asking for the period type or cadence `expected`."""
    zh, en = PERIOD_TYPES[str(expected)]
    return {"expected_zh": zh, "expected_en": en}


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
    "before_first": (
        "记录日期 {day} 早于本单位最早可填报此表的日期 {first}（最早的订阅自该日起）",
        "the record date {day} is before {first}, the first day your unit can file this sheet (its earliest "
        "subscription begins then)",
    ),
    "after_today": (
        "记录日期 {day} 晚于今天（{today}），不能填报",
        "the record date {day} is after today ({today}) and cannot be filed",
    ),
}

# A locked period (issue 22): which lock applies and who can lift it, for a unit's filing or a source's supply.
# `locked` is the last day that still takes new versions; `locked_from`, the day after it, is the first one locked.
LOCKED: dict[str, tuple[str, str]] = {
    "unit": (
        "报告期 {period} 自 {locked_from} 起锁定（截止日期后 {days} 天）。补报或更正须由数据办为本单位解锁",
        "the period {period} is locked from {locked_from} ({days} days after its due date): a late filing or a "
        "correction needs the data office to unlock it for your unit",
    ),
    "source": (
        "报告期 {period} 自 {locked_from} 起锁定（截止日期后 {days} 天）。补供或更正部门数据须由数据办为本部门解锁",
        "the period {period} is locked from {locked_from} ({days} days after its due date): supplying register "
        "values for it needs the data office to unlock it for your department",
    ),
    "record_unit": (
        "{period} 的台账记录自 {locked_from} 起锁定（月末后 {days} 天）。补录或更正须由数据办为本单位解锁该月",
        "ledger records of {period} are locked from {locked_from} ({days} days after the month ended): adding or "
        "correcting one needs the data office to unlock that month for your unit",
    ),
    "record_source": (
        "{period} 的台账记录自 {locked_from} 起锁定（月末后 {days} 天）。补供或更正须由数据办为本部门解锁该月",
        "ledger records of {period} are locked from {locked_from} ({days} days after the month ended): supplying "
        "them needs the data office to unlock that month for your department",
    ),
}

add_messages(MESSAGES, by_reason={"period.not_open": NOT_OPEN, "period.locked": LOCKED})


# The DHIS2 face (/dhis2/): what a DHIS2 client sends that OneTable does not hold or cannot read.
DHIS2_MESSAGES: dict[str, tuple[str, str]] = {
    "dhis2.body": ("无法读取数据值集：{why_zh}", "the data value set cannot be read: {why_en}"),
    "body.empty": ("请求体为空：没有可读取的数据值集", "the body is empty: there is no data value set to read"),
    "xml.syntax": (
        "XML 格式错误：第 {line} 行第 {column} 列处不是格式正确的 XML",
        "the XML is not well-formed at line {line}, column {column} ({detail})",
    ),
    "xml.encoding": (
        "XML 编码错误：第 {line} 行第 {column} 列处的字节不符合文档声明的字符编码（未声明即 UTF-8）",
        "the XML has bytes at line {line}, column {column} that are not valid in its declared encoding "
        "(UTF-8 if none is declared)",
    ),
    "xml.doctype": (
        "不接受含文档类型声明（DOCTYPE）的 XML：其实体可被展开或从外部读取",
        "XML with a document type declaration (DOCTYPE) is not accepted: its entities could expand or be fetched",
    ),
    "adx.root": (
        "根元素须为 ADX 命名空间（urn:ihe:qrph:adx:2015）中的 adx，而不是 {tag}",
        "the root element must be adx in ADX's namespace (urn:ihe:qrph:adx:2015), not {tag}",
    ),
    "adx.namespace": (
        "元素 {element} 须在 ADX 命名空间（urn:ihe:qrph:adx:2015）中，而不是“{namespace}”",
        "the element {element} must be in ADX's namespace (urn:ihe:qrph:adx:2015), not “{namespace}”",
    ),
    "csv.field_too_long": (
        "CSV 第 {line} 行有一格超过 {limit} 个字符的上限",
        "a cell on CSV line {line} is longer than the limit of {limit} characters",
    ),
    "csv.syntax": ("CSV 第 {line} 行格式错误", "the CSV is not well-formed at line {line} ({detail})"),
    "dhis2.id_scheme": (
        "一表通只按代码（CODE）识别对象，不支持 {scheme}",
        "OneTable identifies objects by code (CODE) only, not by {scheme}",
    ),
    "dhis2.disaggregation": (
        "一表通没有分类组合，{combo} 只能省略或为 default",
        "OneTable has no disaggregations: {combo} must be absent or default",
    ),
    "dhis2.parameter": ("参数 {name} 的值无效：{why_zh}", "the parameter {name} is not valid: {why_en}"),
    "dhis2.unknown_data_set": (
        "没有代码为“{code}”的数据集，或无权读取",
        "no data set has the code “{code}”, or it is not yours to read",
    ),
    "dhis2.unknown_org_unit": (
        "没有代码为“{code}”的组织机构，或不在您的范围内",
        "no organisation unit has the code “{code}”, or it is outside what you may see",
    ),
    "dhis2.not_asked": (
        "您的一张表不要求填报“{code}”",
        "your one table does not ask for “{code}”",
    ),
    "dhis2.period": ("报告期“{period}”无法识别", "the period “{period}” is not understood"),
    "dhis2.dimension": (
        "维度“{dimension}”无效：须为 dx、pe 或 ou，后接以分号分隔的项（ou 可含一个 LEVEL-n）",
        "the dimension “{dimension}” is not valid: dx, pe or ou followed by items separated by “;” "
        "(ou may add one LEVEL-n)",
    ),
    "dhis2.dimension_twice": ("维度 {dimension} 只能出现一次", "the dimension {dimension} may appear only once"),
    "dhis2.dimension_missing": (
        "缺少维度 {dimension}（作为 dimension 或 filter）",
        "the dimension {dimension} is missing (as a dimension or a filter)",
    ),
    "dhis2.filter": ("筛选维度 {dimension} 只能有一项", "the filter {dimension} must have exactly one item"),
    "dhis2.analytics_item": (
        "“{code}”不是您可查询汇总的字段或指标（须订阅，且订阅范围包含所选区域）",
        "“{code}” is not a field or indicator whose aggregates you may read "
        "(a subscription to it whose scope contains the area)",
    ),
}
add_messages(DHIS2_MESSAGES)

RULE_MESSAGES: dict[str, tuple[str, str]] = {
    # validation rules across fields (reporting/catalogue/rules.py) and plausibility (reporting/filing/checks.py)
    # the office's message alone: its rule's code is the office's, not the cadre's (the API keeps it in `field`)
    "rule.error": ("{text_zh}", "{text_en}"),
    "rule.warning": (
        "{text_zh}（请确认数值并填写一句说明后提交）",
        "{text_en} (confirm the value with a one-line explanation to submit)",
    ),
    "plausibility.warning": (
        "{text_zh}（请确认数值并填写一句说明后提交）",
        "{text_en} (confirm the value with a one-line explanation to submit)",
    ),
    "rule.operator": (
        "须为下列比较之一：{choices}，或“如果…则…必填”",
        "must be one of {choices}, or “if … then … is required”",
    ),
    "rule.condition": (
        "“如果…则…必填”的条件须为是/否（当前为{got}）",
        "the condition of “if … then … is required” must be yes or no (it is {got})",
    ),
    "rule.pair_field": ("“则…必填”须为本表的一个字段", "the “then … is required” side must be one field of the sheet"),
    "rule.fields_only": (
        "校验规则只能比较本表本期的字段，不能引用指标、台账或区域汇总",
        "a rule compares fields of its sheet and period only: no indicators, ledgers or roll-ups",
    ),
    "rule.code_taken": ("编码“{code}”已被其他校验规则使用", "the code “{code}” is already used by another rule"),
    "rule.sheet": ("须为一个在用的定期报表（台账不适用）", "must be an active periodic sheet (not a ledger)"),
    "rule.strategy": ("缺失值处理须为下列之一：{choices}", "the missing-value strategy must be one of: {choices}"),
    "rule.importance": ("须为“错误”或“警告”", "must be error or warning"),
    "rule.retired": ("校验规则“{code}”已停用", "the rule “{code}” is already retired"),
    "rule.retired_field": (
        "“{code}”是已停用的字段，校验规则不能引用",
        "“{code}” is a retired field: a rule cannot refer to it",
    ),
    "rule.other_sheet": (
        "“{code}”不是表“{sheet}”的字段：校验规则只能比较同一张表的字段",
        "“{code}” is not a field of the sheet “{sheet}”: a rule compares fields of one sheet",
    ),
    "plausibility.threshold": (
        "须为 {min} 至 {max} 之间的数，最多一位小数",
        "must be a number from {min} to {max} with at most one decimal place",
    ),
    "plausibility.not_number": (
        "“{code}”不是数值字段，不能设置通常范围",
        "“{code}” is not a number field: it has no range",
    ),
    "plausibility.range_order": ("不能小于下限", "must not be below the lower bound"),
    "plausibility.retired_field": (
        "“{code}”是已停用的字段，不能设置通常范围",
        "“{code}” is a retired field: it cannot be given an expected range",
    ),
    "plausibility.below_min": (
        "不能小于字段“{code}”的最小值 {min}",
        "must not be below the minimum of the field “{code}”, {min}",
    ),
    "plausibility.above_max": (
        "不能大于字段“{code}”的最大值 {max}",
        "must not be above the maximum of the field “{code}”, {max}",
    ),
}
add_messages(RULE_MESSAGES)
