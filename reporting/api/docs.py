"""The API documentation pages' one asset that is not vendored as is: Redoc's bundle without its online logo."""

from __future__ import annotations

import functools
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
# Redoc's sidebar footer always shows Redocly's logo from their CDN (no setting turns it off). An image
# source that is not an image makes the component hide the logo, as it does when the CDN cannot be reached.
REDOCLY_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def _offline_redoc() -> bytes:
    found = finders.find(REDOC_BUNDLE)
    assert isinstance(found, str), REDOC_BUNDLE  # drf-spectacular-sidecar ships it
    return Path(found).read_bytes().replace(REDOCLY_LOGO, b"data:,")


@require_GET
@cache_control(max_age=86400, public=True)
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """Serve the sidecar's Redoc bundle with nothing that reaches outside the intranet."""
    return HttpResponse(_offline_redoc(), content_type="text/javascript; charset=utf-8")
