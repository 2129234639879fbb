"""The settings every signed-in page hands static/js/offline.js: where the service worker and the filing API are,
whose phone outbox this is, the CSRF cookie's name, and the words it shows."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.html import json_script
from django.utils.safestring import SafeString

from reporting.filing.offline import offline_words

register = template.Library()


@register.simple_tag(takes_context=True)
def offline_config(context: dict[str, Any]) -> SafeString:
    request = context["request"]
    return json_script(
        {
            "user": request.user.username,
            "sw": reverse("service_worker"),
            # the static prefix itself: `static("")` asks the hashed-names manifest for a file named "" and
            # fails in production (ManifestStaticFilesStorage); the original names are served there too
            "static": settings.STATIC_URL,
            "home": reverse("cadre_home"),
            "api": reverse("api_submissions"),
            "submission": reverse("submission", args=[0]),  # the id replaces the 0
            "csrf_cookie": settings.CSRF_COOKIE_NAME,
            "csrf": context.get("csrf_token") and str(context["csrf_token"]),
            "words": offline_words(),
        },
        "offline-config",
    )
