"""The site's URLs plus one page and one API path that fail, to see the 500 answers."""

from django.urls import path

from core.urls import handler400, handler403, handler404, handler500  # noqa: F401
from core.urls import urlpatterns as site_urls


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom), path("api/boom", boom), *site_urls]
