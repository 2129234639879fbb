"""The API takes JSON bodies only, and refuses at parsing what could only fail later: a string PostgreSQL
could not store, or nesting deeper than Python's JSON decoder can follow (a server error before)."""

from __future__ import annotations

from rest_framework import parsers

from reporting.errors import Problem, Problems, unstorable


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            problems = unstorable(data)
        except RecursionError:
            raise Problems([Problem(field="body", rule="body.too_deep")]) from None
        if problems:
            raise Problems(problems)
        return data
