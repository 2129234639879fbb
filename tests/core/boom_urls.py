"""The site's URLs plus one page and one API path that fail, to see the 500 answers, and a plain Django view
under the API that only takes POST, to see its 405."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST

from core.urls import handler400, handler403, handler404, handler500  # noqa: F401
from core.urls import urlpatterns as site_urls


def boom(request):
    raise RuntimeError("a bug")


@require_POST
def post_only(request):
    return HttpResponse("posted")


urlpatterns = [path("boom/", boom), path("api/boom", boom), path("api/post-only", post_only), *site_urls]
