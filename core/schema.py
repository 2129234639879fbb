"""OpenAPI description of OneTable's bearer tokens and its session door (loaded by CoreConfig.ready)."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.tokens.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A OneTable API token: `Bearer ot_…`"}


class SessionCsrfScheme(SessionScheme):
    """The signed-in session, as DRF's (only its CSRF check differs): the cookie."""

    target_class = "core.tokens.SessionAuthentication"
