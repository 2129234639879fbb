"""Before any view runs: a chunked body read with its length, or refused with a 411 where the server cannot
read it; a query or form parameter that OneTable does not keep (`core.problems.storable`) refused with a 400
naming it, in Chinese and English, instead of a server error or a corrupt export. After the view: Django's empty
405 explained."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render

from core.problems import Problem, error_body, json_response, listing, plain_body, storable

logger = logging.getLogger(__name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RejectUnstorableText:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sources = [request.GET]
        api = request.path.startswith(("/api/", "/dhis2/"))  # the DHIS2 face answers JSON too
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
        # a page's parameter names (v__activity_title) say nothing to the person who typed: one plain sentence
        said = [Problem(field="form", rule="text.character_sent")]
        return render(request, "bad_request.html", {"problems": said}, status=400)


def _chunked(environ) -> bool:
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH")


def read_chunked_body(application):
    """WSGI middleware: a body sent with `Transfer-Encoding: chunked` carries no Content-Length, and Django reads
    such a body as empty (a filing was refused as `{}`; an endpoint asked to resume was paused). Where the server
    has decoded the chunks and ends the input stream there (`wsgi.input_terminated`, which gunicorn sets), the
    body is read here, at most one byte past what the server takes, and handed on with its length (a longer one
    is then refused 413 as any other). Where the server does not say so, `RequireLength` answers 411."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def wrapped(environ, start_response):
        if _chunked(environ) and environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read(limit + 1 if limit is not None else -1)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return application(environ, start_response)

    return wrapped


def close_after_too_large(application):
    """WSGI middleware: a body refused 413 was left unread, and the server will not read megabytes to find the
    next request (gunicorn drops a connection with more than 64 KiB unread), so the answer must say
    `Connection: close`, or a client sends its next request on a connection about to be dropped. A WSGI application
    may not send that header itself (it is hop-by-hop): the server is told to close, where it can be (gunicorn's
    `start_response` belongs to its response, whose `force_close` makes it say so). Django's own server reads
    what is left of a body instead, and keeps the connection."""

    def wrapped(environ, start_response):
        def starting(status: str, headers, exc_info=None):
            if status.startswith("413"):
                close = getattr(getattr(start_response, "__self__", None), "force_close", None)
                if callable(close):
                    close()
            return start_response(status, headers, exc_info)

        return application(environ, starting)

    return wrapped


class RequireLength:
    """A chunked body the server could not hand over with its length is answered 411 Length Required, by name,
    instead of being read as empty."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _chunked(request.META):
            return self.get_response(request)
        problem = Problem(field="Content-Length", rule="body.length_required")
        if request.path.startswith("/api/"):
            return json_response(error_body([problem]), 411)
        return HttpResponse(problem.message, status=411, content_type="text/plain; charset=utf-8")


def method_refused(method: str, allowed: Iterable[str], *, page: bool) -> Problem:
    """A method the address does not take, and which it does, in Chinese and English: a page that only takes a
    form says so."""
    allowed = [m for m in allowed if m not in ("HEAD", "OPTIONS")] or list(allowed)
    if page and allowed == ["POST"]:
        return Problem(field="method", rule="method.form_only", params={"method": method})
    return Problem(field="method", rule="method.not_allowed", params={"method": method, "allowed": listing(allowed)})


class ExplainMethodNotAllowed:
    """Django answers a method a view does not take (`require_POST`) with an empty 405: the site's error page,
    with the role's navigation, or JSON under the API, naming the rule in Chinese and English; `Allow` is kept."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not isinstance(response, HttpResponseNotAllowed) or response.content:
            return response
        allowed = [m.strip() for m in response["Allow"].split(",") if m.strip()]
        api = request.path.startswith(("/api/", "/dhis2/"))
        problem = method_refused(request.method or "", allowed, page=not api)
        explained: HttpResponse
        if api:
            explained = json_response(plain_body("method_not_allowed", problem.message_zh, problem.message_en), 405)
        else:
            try:
                explained = render(request, "400.html", {"problem": problem}, status=405)
            except Exception:  # the page needs the database (the user, the navigation): the bare answer then
                logger.exception("the 405 page could not be rendered; Django's empty answer was sent")
                return response
        explained["Allow"] = response["Allow"]
        return explained
