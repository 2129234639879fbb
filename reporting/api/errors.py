"""Every API error is JSON: a code, the field when there is one, and the message in zh and en."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from reporting.errors import Problem, Problems, error_body
from reporting.services.submissions import AlreadySubmitted


def problem_response(problems: list[Problem], status_code: int = status.HTTP_400_BAD_REQUEST, **extra: Any) -> Response:
    return Response(error_body(problems, **extra), status=status_code)


def not_found() -> Response:
    """The answer for anything the caller may not see, or that does not exist: the two look the same."""
    return _plain("not_found", "未找到", "not found", status.HTTP_404_NOT_FOUND)


def _plain(code: str, zh: str, en: str, status_code: int) -> Response:
    return Response({"code": code, "message_zh": zh, "message_en": en, "errors": []}, status=status_code)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Problems):
        return problem_response(exc.problems)
    if isinstance(exc, Problem):
        return problem_response([exc])
    if isinstance(exc, AlreadySubmitted):
        return _plain(
            "already_submitted",
            "本表本期已提交，请用更正接口修改",
            "already submitted for this period; use the corrections endpoint",
            status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, (Http404, exceptions.NotFound, exceptions.PermissionDenied)):
        return not_found()
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response = exception_handler(exc, context)
        if response is not None:
            detail = str(exc.detail)
            zh, _, en = detail.partition(" / ")
            response.data = {
                "code": "not_authenticated",
                "message_zh": zh if en else "未登录或令牌无效",
                "message_en": en or detail,
                "errors": [],
            }
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
        return _plain("method_not_allowed", "不支持该请求方法", "method not allowed", 405)
    return exception_handler(exc, context)


def api_not_found(request, exception=None):
    """Django's 404 for a URL under /api/ that matches no route (`/submissions/abc`): JSON like the rest."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if not request.path.startswith("/api/"):
        return page_not_found(request, exception)
    body = {"code": "not_found", "message_zh": "未找到", "message_en": "not found", "errors": []}
    return JsonResponse(body, status=404, json_dumps_params={"ensure_ascii": False})


def api_bad_request(request, exception=None):
    """Django's own 400 (a request it refused before any view) under /api/: JSON like the rest."""
    from django.http import JsonResponse
    from django.views.defaults import bad_request

    if not request.path.startswith("/api/"):
        return bad_request(request, exception)
    body = {"code": "bad_request", "message_zh": "请求无效", "message_en": "bad request", "errors": []}
    return JsonResponse(body, status=400, json_dumps_params={"ensure_ascii": False})


def api_server_error(request):
    """A server error under /api/ is JSON too; the error itself is logged, never shown."""
    from django.http import JsonResponse
    from django.views.defaults import server_error

    if not request.path.startswith("/api/"):
        return server_error(request)
    body = {
        "code": "server_error",
        "message_zh": "服务器内部错误，已记录，请稍后重试",
        "message_en": "internal server error; it was logged, retry later",
        "errors": [],
    }
    return JsonResponse(body, status=500, json_dumps_params={"ensure_ascii": False})
