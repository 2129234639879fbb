"""The DHIS2 face's plumbing: OneTable tokens under DHIS2's two header keywords, DHIS2's JSON web messages for
errors, and the caller (a department or a unit) each view works for."""

from __future__ import annotations

from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import authentication, exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from core.access import access_department, access_own_unit
from core.middleware import method_refused
from core.tokens import CsrfFailed, SessionAuthentication, authentication_words, digest, token_in, usable_token
from reporting.dhis2.reads import Caller
from reporting.rejections import Problem

DHIS2_VERSION = "2.40.0"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
}


class Dhis2TokenAuthentication(authentication.BaseAuthentication):
    """A OneTable API token sent as `Authorization: Bearer ot_…` or DHIS2's `Authorization: ApiToken ot_…`."""

    keywords = ("Bearer", "ApiToken")

    def authenticate(self, request):
        token = token_in(request, self.keywords)
        if token is None:
            return None
        row = usable_token(digest(token))
        if row is None:
            raise exceptions.AuthenticationFailed("令牌无效、已过期或已吊销 / the token is invalid, expired or revoked")
        return row.user, row

    def authenticate_header(self, request):
        return "ApiToken"


def web_message(http: int, message: str, **extra: Any) -> JsonResponse:
    """DHIS2's WebMessage: {"httpStatus", "httpStatusCode", "status", "message", ...}."""
    body = {
        "httpStatus": _REASONS.get(http, "Error"),
        "httpStatusCode": http,
        "status": "OK" if http < 400 else "ERROR",
        "message": message,
        **extra,
    }
    return JsonResponse(body, status=http, json_dumps_params={"ensure_ascii": False})


def problem_message(status: int, problem: Problem, error_code: str = "") -> JsonResponse:
    extra: dict[str, Any] = {"rule": problem.rule, "message_zh": problem.message_zh, "message_en": problem.message_en}
    if error_code:
        extra["errorCode"] = error_code
    return web_message(status, problem.message, **extra)


class Dhis2Error(Exception):
    """A refusal answered as DHIS2 does: a status, a Problem and DHIS2's error code."""

    def __init__(self, status: int, problem: Problem, error_code: str = "") -> None:
        self.status, self.problem, self.error_code = status, problem, error_code
        super().__init__(problem.message)


class AnyAccept(BaseContentNegotiation):
    """The views choose their format themselves (JSON, CSV or ADX, by suffix or Accept): DRF never answers 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class Dhis2View(APIView):
    """DRF's request handling, DHIS2's answers: every error is a DHIS2 web message, never OneTable's shape."""

    authentication_classes = [Dhis2TokenAuthentication, SessionAuthentication]
    content_negotiation_class = AnyAccept
    schema = None  # DHIS2's API is documented by DHIS2; OneTable's OpenAPI schema describes its own API

    def handle_exception(self, exc):
        if isinstance(exc, Dhis2Error):
            return problem_message(exc.status, exc.problem, exc.error_code)
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            zh, en = authentication_words(exc)
            response = web_message(401, f"{zh} / {en}", message_zh=zh, message_en=en)
            response["WWW-Authenticate"] = 'ApiToken realm="OneTable"'
            return response
        if isinstance(exc, CsrfFailed):
            return problem_message(403, Problem(field="X-CSRFToken", rule="csrf.missing"))
        if isinstance(exc, (Http404, exceptions.NotFound, exceptions.PermissionDenied)):
            return web_message(404, "未找到 / not found")
        if isinstance(exc, exceptions.MethodNotAllowed):
            problem = method_refused(self.request.method or "", self.allowed_methods, page=False)
            return problem_message(405, problem)
        if isinstance(exc, exceptions.Throttled):
            return web_message(429, "请求过于频繁 / too many requests")
        return super().handle_exception(exc)

    def caller(self) -> Caller:
        """The department or unit the request acts for; anyone else (the office, anonymous) gets a 404."""
        user = self.request.user
        if user.is_authenticated and user.is_department_user:
            return Caller(department=access_department(user), unit=None)
        return Caller(department=None, unit=access_own_unit(user))
