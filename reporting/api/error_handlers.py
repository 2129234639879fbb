"""Every API error is JSON: a code, the field when there is one, and the message in zh and en."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import translation
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.middleware import method_refused
from core.problems import Problem, Problems, error_body, json_response, plain_body
from core.tokens import CsrfFailed, authentication_words
from reporting.services.submissions import AlreadySubmitted

logger = logging.getLogger(__name__)
JSON_PATHS = ("/api/", "/dhis2/")  # OneTable's API and its DHIS2 face answer errors in JSON, never a page


def problem_response(problems: list[Problem], status_code: int = status.HTTP_400_BAD_REQUEST, **extra: Any) -> Response:
    return Response(error_body(problems, **extra), status=status_code)


CONFLICTS = frozenset({"period.locked", "form.changed"})


def refusal_status(problems: list[Problem]) -> int:
    """400 for bad input; 409 when a locked period or a changed form refused it (a conflict with the calendar or
    the catalogue, not a fault of the input)."""
    return status.HTTP_409_CONFLICT if any(p.rule in CONFLICTS for p in problems) else status.HTTP_400_BAD_REQUEST


def refusal_body(problems: list[Problem]) -> dict[str, Any]:
    """The refusal's JSON, the lock first when there is one: its code is the answer's code."""
    return error_body(sorted(problems, key=lambda p: p.rule != "period.locked"))


def not_found() -> Response:
    """The answer for anything the caller may not see, or that does not exist: the two look the same."""
    return _plain("not_found", "未找到", "not found", status.HTTP_404_NOT_FOUND)


def _plain(code: str, zh: str, en: str, status_code: int) -> Response:
    return Response(plain_body(code, zh, en), status=status_code)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Problems):
        return Response(refusal_body(exc.problems), status=refusal_status(exc.problems))
    if isinstance(exc, Problem):
        return problem_response([exc])
    if isinstance(exc, AlreadySubmitted):
        return problem_response([exc.problem], status.HTTP_409_CONFLICT)
    if isinstance(exc, CsrfFailed):  # a browser's own call, not a refusal of what it asked to see: say so
        return problem_response([Problem(field="X-CSRFToken", rule="csrf.missing")], status.HTTP_403_FORBIDDEN)
    if isinstance(exc, (Http404, exceptions.NotFound, exceptions.PermissionDenied)):
        return not_found()
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response = exception_handler(exc, context)  # keeps DRF's status and WWW-Authenticate header
        if response is not None:
            response.data = plain_body("not_authenticated", *authentication_words(exc))
        return response
    if isinstance(exc, exceptions.Throttled):
        return _plain("throttled", "请求过于频繁，请稍后再试", "too many requests; retry later", 429)
    if isinstance(exc, exceptions.ParseError):
        return _plain("body.invalid_json", "请求体不是有效的 JSON", "the request body is not valid JSON", 400)
    if isinstance(exc, RequestDataTooBig):
        limit = round(settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20, 1)
        return problem_response([Problem(field="body", rule="body.too_large", params={"mb": limit})], 413)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return problem_response([Problem(field="Content-Type", rule="body.media_type")], 415)
    if isinstance(exc, exceptions.MethodNotAllowed):
        request, view = context.get("request"), context.get("view")
        method = request.method if request is not None else "?"
        allowed = view.allowed_methods if view is not None else []
        problem = method_refused(method, allowed, page=False)
        return _plain("method_not_allowed", problem.message_zh, problem.message_en, 405)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException) and not isinstance(exc, ValidationError):
        # any other of DRF's refusals: its own words in each language, never only the request's language
        with translation.override("zh-hans"):
            zh = str(exc.default_detail)
        with translation.override("en"):
            en = str(exc.default_detail)
        response.data = plain_body(str(exc.default_code), zh, en)
    return response


# Django's own answers, JSON under /api/ (a URL that matches no route, a request refused before any view,
# a server error: its cause is logged, never shown); elsewhere pages of the site, in the user's language,
# with the navigation of the user's role (templates 400.html, 403.html, 404.html, 500.html).
def api_not_found(request, exception=None):
    if not request.path.startswith(JSON_PATHS):
        return defaults.page_not_found(request, exception)
    return json_response(plain_body("not_found", "未找到", "not found"), 404)


def api_permission_denied(request, exception=None):
    if not request.path.startswith(JSON_PATHS):
        return defaults.permission_denied(request, exception)
    return json_response(plain_body("forbidden", "不允许此操作", "not allowed"), 403)


def api_bad_request(request, exception=None):
    if not request.path.startswith(JSON_PATHS):
        context = {}
        if isinstance(exception, RequestDataTooBig):  # a form too large: say what the limit is, in zh and en
            limit = round(settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20, 1)
            context["problem"] = Problem(field="body", rule="body.too_large", params={"mb": limit})
        return _page(request, "400.html", 400, context) or defaults.bad_request(request, exception)
    return json_response(plain_body("bad_request", "请求无效", "bad request"), 400)


def api_server_error(request):
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        return database_unavailable(request)
    if not request.path.startswith(JSON_PATHS):
        return _page(request, "500.html", 500) or defaults.server_error(request)
    zh, en = "服务器内部错误，已记录，请稍后重试", "internal server error; it was logged, retry later"
    return json_response(plain_body("server_error", zh, en), 500)


def _page(request, template: str, status_code: int, context: dict | None = None) -> HttpResponse | None:
    """The error as a page of the site; None when even that fails (the database may be what broke)."""
    # Django renders 400 and 500 pages without the request (no user, no navigation); this one has it.
    try:
        return render(request, template, context, status=status_code)
    except Exception:
        logger.exception("the %s page could not be rendered; Django's plain page was sent", status_code)
        return None


def database_unavailable(request):
    """PostgreSQL could not be reached (or broke off): 503 with Retry-After, nothing was stored. Django calls
    the 500 handler inside its `except` block, wherever the error was raised (a view, a middleware, DRF's
    authentication), so this one place answers for all of them. The page reads nothing from the database."""
    zh = "数据库暂时不可用，未保存任何内容，请稍后重试"
    en = "the database is unavailable; nothing was stored, retry later"
    if request.path.startswith(JSON_PATHS):
        response = json_response(plain_body("unavailable", zh, en), 503)
    else:
        response = HttpResponse(render_to_string("503.html", {"zh": zh, "en": en}), status=503)
    response["Retry-After"] = str(settings.ONETABLE_RETRY_AFTER_SECONDS)
    return response
