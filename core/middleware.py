"""Refuse, before any view runs, a query or form parameter that PostgreSQL could not store or compare
(a NUL byte): answered 400 naming the parameter, in Chinese and English, instead of a server error."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from reporting.api.errors import json_response
from reporting.errors import Problem, error_body, storable

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RejectUnstorableText:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sources = [request.GET]
        api = request.path.startswith("/api/")
        if request.method == "POST" and request.content_type in FORM_TYPES and not api:  # the API takes JSON only
            sources.append(request.POST)
        problems = [
            Problem(field=key if storable(key) else repr(key), rule="text.character")
            for source in sources
            for key, values in source.lists()
            if not (storable(key) and all(storable(value) for value in values))
        ]
        if not problems:
            return self.get_response(request)
        if api:
            return json_response(error_body(problems), 400)
        return render(request, "bad_request.html", {"problems": problems}, status=400)
