"""API tokens: issue (shown once), authenticate (by digest), revoke."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.throttling import UserRateThrottle

from core.models import ApiToken, User

TOKEN_PREFIX = "ot_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(*, user: User, name: str, valid_for: dt.timedelta = dt.timedelta(days=365)) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the token text, which is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, name=name, prefix=token[:10], digest=digest(token), expires_at=timezone.now() + valid_for
    )
    return row, token


def revoke_token(*, token: ApiToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer ot_…`; an unknown, expired or revoked token is a 401."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("令牌格式错误 / malformed bearer token")
        # the cadre's unit and area come along: the views' access checks need them, with no second query
        row = ApiToken.objects.usable().select_related("user__unit__area").filter(digest=digest(header[1])).first()
        if row is None:
            raise exceptions.AuthenticationFailed("令牌无效、已过期或已吊销 / the token is invalid, expired or revoked")
        return row.user, row

    def authenticate_header(self, request):
        return self.keyword


def department_system_user(department) -> User:
    """The account a department's own systems act as (tokens are issued to it)."""
    from core.models import Role

    user, _ = User.objects.get_or_create(
        username=f"{department.code}-system",
        defaults={"role": Role.DEPARTMENT_SYSTEM, "department": department, "first_name": f"{department.name} 系统"},
    )
    return user


class TokenRateThrottle(UserRateThrottle):
    """Throttle per API token (per user for browser sessions), in the process's cache."""

    scope = "token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return self.cache_format % {"scope": self.scope, "ident": f"token-{request.auth.pk}"}
        return super().get_cache_key(request, view)
