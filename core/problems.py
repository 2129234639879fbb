"""Rejections that name the field and the rule, in Chinese first and English second; the JSON they are answered
with; and the one rule for text OneTable keeps.

Used by `core` (its middleware refuses unstorable text before any view) and by `reporting` (which adds the codes
and messages of its own rules with `add_messages`, in reporting/rejections.py). Imports no app of OneTable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from django.http import JsonResponse
from django.utils import translation

# Every rule has one code and one pair of message templates: core's here, each app's added by `add_messages`.
MESSAGES: dict[str, tuple[str, str]] = {
    "body.length_required": (
        "请求须带 Content-Length 请求头：本服务器无法读取分块传输（chunked）的请求体",
        "the request needs a Content-Length header: this server cannot read a chunked body",
    ),
    "body.too_deep": ("JSON 嵌套层数过多", "the JSON is nested too deeply"),
    "auth.required": (
        "未登录或令牌无效：请在 Authorization 请求头中带上 API 令牌（Bearer ot_…），或先登录",
        "not signed in, or no valid token: send an API token in the Authorization header (Bearer ot_…), or sign in",
    ),
    # the API's words for what the site's 403_csrf.html page says of a form
    "csrf.missing": (
        "请求缺少安全令牌（X-CSRFToken 请求头），或令牌已失效：以登录会话调用须带上页面的安全令牌。未保存任何内容。",
        "the request lacks its security token (the X-CSRFToken header), or the token is stale: a call made with a "
        "signed-in session must send the page's token. Nothing was stored.",
    ),
    # shown only on a page (400.html), which says once, after it, that nothing was stored
    "method.form_only": (
        "此页面只接受表单提交（POST），不能用 {method} 直接打开",
        "this page only takes a form submission (POST); it cannot be opened with {method}",
    ),
    "method.not_allowed": (
        "此地址不接受 {method} 请求，只接受 {allowed}",
        "{method} is not allowed here; only {allowed}",
    ),
    "text.max_length": ("不能超过 {max_length} 个字符", "must be at most {max_length} characters"),
    "text.character_sent": (
        "您提交的内容含有不能保存的字符（控制字符、空字符 NUL、U+FFFE、U+FFFF、文字方向控制符 U+202A–U+202E 或 "
        "U+2066–U+2069，或无效的 Unicode 代理码元）",
        "what you sent contains characters that cannot be stored (a control character, a NUL, U+FFFE, U+FFFF, a "
        "text direction control U+202A–U+202E or U+2066–U+2069, or an unpaired Unicode surrogate)",
    ),
    "text.character": (
        "含有不能保存的字符（控制字符、空字符 NUL、U+FFFE、U+FFFF、文字方向控制符 U+202A–U+202E 或 "
        "U+2066–U+2069，或无效的 Unicode 代理码元）",
        "contains a character that cannot be stored (a control character, a NUL, U+FFFE, U+FFFF, a text direction "
        "control U+202A–U+202E or U+2066–U+2069, or an unpaired Unicode surrogate)",
    ),
}
# Rules whose message depends on why (`params["why"]`): one code for clients, a message per reason for people.
_BY_REASON: dict[str, dict[str, tuple[str, str]]] = {}


def add_messages(
    messages: dict[str, tuple[str, str]], *, by_reason: dict[str, dict[str, tuple[str, str]]] | None = None
) -> None:
    """Add an app's rules to the catalogue; a code means one thing, so redefining one differently is an error."""
    by_reason = by_reason or {}
    clash = [code for code, text in messages.items() if MESSAGES.get(code, text) != text]
    clash += [code for code, texts in by_reason.items() if _BY_REASON.get(code, texts) != texts]
    if clash:
        raise ValueError(f"rule codes defined twice: {clash}")
    MESSAGES.update(messages)
    _BY_REASON.update(by_reason)


class Words(NamedTuple):
    """A message parameter that reads differently in Chinese and in English."""

    zh: str
    en: str


def listing(items_zh: Iterable[Any], items_en: Iterable[Any] | None = None) -> Words:
    """Items listed in a message: joined by 、 in Chinese and by commas in English (the same items unless
    `items_en` names them in English)."""
    zh = [str(i) for i in items_zh]
    return Words("、".join(zh), ", ".join(zh if items_en is None else [str(i) for i in items_en]))


def named(labels: Iterable[Any]) -> Words:
    """Choices listed in a message by their (translatable) labels: in Chinese and in English, never by code."""
    with translation.override("zh-hans"):
        zh = [str(label) for label in labels]
    with translation.override("en"):
        en = [str(label) for label in labels]
    return listing(zh, en)


def _in(language: str, value: Any) -> Any:
    """A parameter as one language says it: `Words` by its half, a value with `label_zh()`/`label_en()` (a period)
    by its label; anything else as it is."""
    if isinstance(value, Words):
        return value.zh if language == "zh" else value.en
    says = getattr(value, f"label_{language}", None)
    return says() if callable(says) else value


def render(rule: str, params: dict[str, Any]) -> tuple[str, str]:
    """The rule's message in Chinese and English, its parameters filled in, each in the message's language."""
    reasons = _BY_REASON.get(rule)
    zh, en = reasons[params["why"]] if reasons else MESSAGES[rule]
    return (
        zh.format(**{k: _in("zh", v) for k, v in params.items()}),
        en.format(**{k: _in("en", v) for k, v in params.items()}),
    )


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


def labelled(problems: list[Problem], labels: Mapping[str, tuple[str, str]]) -> list[Problem]:
    """The problems as a page shows them: each whose parameter `labels` names (`fields[2]` by `fields`) given
    that label in Chinese and English, unless it has one. The API keeps the bare names: they are its contract."""
    for problem in problems:
        label = labels.get(problem.field.split("[", 1)[0])
        if label is not None and not problem.label_zh:
            problem.labelled(*label)
    return problems


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
# Also the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): one left open
# reverses or reorders every text shown after it on a page (a reason on the version history).
BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_UNSTORABLE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff{BIDI_CONTROLS}]")

# Characters that show nothing: zero-width spaces and joiners, word joiners and invisible operators, the byte
# order mark, marks of direction, the soft hyphen, the Hangul fillers, the braille blank. str.strip() keeps them,
# so a text of nothing else would pass as said; `blank` counts them with white space (str.isspace). Not the
# bidirectional controls: those are refused wherever they stand (`storable`), never quietly trimmed.
INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062"
    "\u2063\u2064\u206a\u206b\u206c\u206d\u206e\u206f\u2800\u3164\ufeff\uffa0"
)
# str.strip(chars) is linear; a regular expression anchored at the end is quadratic on a long run of spaces
_SAYS_NOTHING = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + INVISIBLE


def trimmed(text: str) -> str:
    """`text` without white space or invisible characters at either end: what OneTable keeps of it."""
    return text.strip(_SAYS_NOTHING)


def blank(text: str | None) -> bool:
    """Whether `text` says nothing: None, empty, or only white space and invisible characters. The one test of
    an empty text, for every required text (a reason, an explanation, a value)."""
    return text is None or not trimmed(text)


def storable(text: str) -> bool:
    """Whether OneTable keeps `text` as it is: no NUL, no other C0 control but tab and newlines, no unpaired
    surrogate, no U+FFFE or U+FFFF, no bidirectional embedding, override or isolate."""
    return _UNSTORABLE.search(text) is None


def drop_unstorable(text: str) -> str:
    """`text` without the characters `storable` refuses (all invisible or invalid): what a writer of XML (an XLSX
    export) puts down for text stored before the rule, or behind its back."""
    return _UNSTORABLE.sub("", text)


def too_long(text: str, limit: int, *, field: str, label_zh: str, label_en: str) -> list[Problem]:
    """The refusal of a text longer than `limit` characters, naming its field and the limit: a text is refused
    whole, never cut to fit."""
    if len(text) <= limit:
        return []
    return [
        Problem(field=field, rule="text.max_length", params={"max_length": limit}, label_zh=label_zh, label_en=label_en)
    ]


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


def plain_body(code: str, zh: str, en: str) -> dict[str, Any]:
    """The JSON of a refusal that names no field (not found, not allowed, a server error)."""
    return {"code": code, "message_zh": zh, "message_en": en, "errors": []}


def json_response(body: dict[str, Any], status_code: int) -> JsonResponse:
    """An error body outside DRF's views (Django's own error handlers, middleware), as DRF would send it."""
    return JsonResponse(body, status=status_code, json_dumps_params={"ensure_ascii": False})
