"""Production's URLconf, the submit benchmark's anchor and floor views (bench/anchor.py) and the peer's pattern
(bench/peer.py)."""

from django.urls import include, path

from bench.peer import peer_submit
from core.urls import handler400, handler403, handler404, handler500
from core.urls import urlpatterns as production

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = [*production, path("", include("bench.anchor")), path("bench/peer/submissions", peer_submit)]
