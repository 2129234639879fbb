"""The API takes JSON bodies only, and refuses at parsing what could only fail later: a string PostgreSQL
could not store or an XLSX export could not hold, or nesting deeper than Python's JSON decoder can follow."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import exceptions, parsers
from rest_framework.utils import json

from reporting.rejections import MAX_DEPTH, Problem, Problems, unstorable

# In valid JSON a character `storable` refuses can only be written as an escape (raw, a control character is
# refused by the decoder and a surrogate is invalid UTF-8), as the short escapes \b and \f, or as U+FFFE/U+FFFF
# in UTF-8, or as a bidirectional control (U+202A-U+202E, U+2066-U+2069) escaped or in UTF-8; nesting needs
# brackets. A body with none of these cannot hold anything `unstorable` looks for, and skips its walk (most of
# the check's cost: docs/benchmarks.md, sixth round). A false alarm (an escaped backslash before a b) only costs
# the walk.
_SUSPECT = re.compile(
    rb"\\u(?:00[01]|[dD]|[fF]{3}[eEfF]|202[a-eA-E]|206[6-9])|\\[bf]|\xef\xbf[\xbe\xbf]"
    rb"|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]"
)


def _needs_walk(raw: bytes) -> bool:
    return _SUSPECT.search(raw) is not None or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH


_BOM = b"\xef\xbb\xbf"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose key comes twice is refused by that key: taking the last (Python's way) drops the other
    value silently, and which one the client meant nobody knows."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise Problems([Problem(field=key, rule="body.duplicate_key", params={"key": key})])
        found[key] = value
    return found


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:  # JSON exchanged between systems is UTF-8 (RFC 8259 8.1), a leading byte order mark ignored
            text = raw.removeprefix(_BOM).decode("utf-8")
        except UnicodeDecodeError as error:
            offset = error.start + (len(_BOM) if raw.startswith(_BOM) else 0)
            raise Problems([Problem(field="body", rule="body.encoding", params={"offset": offset})]) from None
        try:
            data = json.loads(
                text,
                object_pairs_hook=_no_duplicates,
                parse_constant=json.strict_constant if self.strict else None,
            )
            problems = unstorable(data) if _needs_walk(raw) else []
        except RecursionError:
            raise Problems([Problem(field="body", rule="body.too_deep")]) from None
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
        if problems:
            raise Problems(problems)
        return data
