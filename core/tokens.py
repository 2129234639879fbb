"""API tokens: issue (shown once), authenticate (by digest), revoke."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import cast

from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.authentication import CSRFCheck
from rest_framework.throttling import UserRateThrottle

from core.audit import audited, read_only, record
from core.models import ApiToken, Area, Department, Unit, User
from core.problems import Problems, render, too_long

TOKEN_PREFIX = "ot_"


@read_only
def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@audited("token.issued")
@transaction.atomic
def issue_token(
    *, user: User, name: str, valid_for: dt.timedelta = dt.timedelta(days=365), by: User | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the token text, which is never stored. A name longer than
    the column is refused (Problems), not cut.
    `by`: who issued it (None: a command run on the server)."""
    limit = ApiToken._meta.get_field("name").max_length or 0
    if problems := too_long(name, limit, field="name", label_zh="名称", label_en="Name"):
        raise Problems(problems)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, name=name, prefix=token[:10], digest=digest(token), expires_at=timezone.now() + valid_for
    )
    # never the token or its prefix: the audit is read by more people than the token's owner
    record(action="token.issued", target=row, actor=by, user=user.username, name=name, expires_at=str(row.expires_at))
    return row, token


@audited("token.revoked")
@transaction.atomic
def revoke_token(*, token: ApiToken, by: User | None = None) -> None:
    """Revoke a token from now on; revoking it again changes nothing."""
    token.revoked_at = timezone.now()
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=token.revoked_at):
        record(action="token.revoked", target=token, actor=by, user=token.user.username, name=token.name)


def _columns(model, alias: str) -> tuple[str, list[str]]:
    fields = model._meta.concrete_fields
    return ", ".join(f'{alias}."{f.column}"' for f in fields), [f.attname for f in fields]


_PARTS = [(ApiToken, "t"), (User, "u"), (Unit, "n"), (Area, "a")]
_COLUMNS = [_columns(model, alias) for model, alias in _PARTS]
# ApiToken.objects.usable() with the user, the cadre's unit and its area (the views' access checks need
# them), written out once: every API request runs it, and composing it with the ORM cost more than running it.
_TOKEN_SQL = (
    "SELECT " + ", ".join(sql for sql, _ in _COLUMNS) + " FROM core_apitoken t"
    " JOIN core_user u ON u.id = t.user_id"
    " LEFT JOIN core_unit n ON n.id = u.unit_id"
    " LEFT JOIN core_area a ON a.id = n.area_id"
    " WHERE t.digest = %s AND t.revoked_at IS NULL AND t.expires_at > %s AND u.is_active"
)


@read_only
def usable_token(token_digest: str) -> ApiToken | None:
    """The unrevoked, unexpired token of an active user with this digest, its user (and unit and area) attached."""
    with connection.cursor() as cursor:
        cursor.execute(_TOKEN_SQL, [token_digest, timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
    objects, start = [], 0
    for (model, _alias), (_sql, names) in zip(_PARTS, _COLUMNS, strict=True):
        values = row[start : start + len(names)]
        start += len(names)
        objects.append(model.from_db(connection.alias, names, values) if values[0] is not None else None)
    token, user, unit, area = cast("tuple[ApiToken, User, Unit | None, Area]", tuple(objects))
    if unit is not None:
        unit.area = area
        user.unit = unit
    token.user = user
    return token


@read_only
def token_in(request, keywords: tuple[str, ...]) -> str | None:
    """The token an `Authorization` header sends under one of `keywords`, or None when it sends none. The scheme
    is matched in any case (RFC 9110 §11.1: `bearer ot_…` is `Bearer ot_…`)."""
    header = authentication.get_authorization_header(request).decode(errors="replace").split()
    if not header or header[0].lower() not in {k.lower() for k in keywords}:
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed("令牌格式错误 / malformed token")
    return header[1]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer ot_…`; an unknown, expired or revoked token is a 401."""

    keyword = "Bearer"

    def authenticate(self, request):
        token = token_in(request, (self.keyword,))
        if token is None:
            return None
        row = usable_token(digest(token))
        if row is None:
            raise exceptions.AuthenticationFailed("令牌无效、已过期或已吊销 / the token is invalid, expired or revoked")
        return row.user, row

    def authenticate_header(self, request):
        return self.keyword


class CsrfFailed(exceptions.PermissionDenied):
    """A signed-in session's unsafe request without its CSRF token: answered 403 by name (rule `csrf.missing`),
    not as the 404 of a refusal that must not reveal what exists."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"CSRF Failed: {reason}")


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session door, its CSRF check made on Django's own request. DRF's reads `request.POST` through the
    view's parsers: a view that reads its body itself has none, and a JSON body was refused as not JSON (415)."""

    def enforce_csrf(self, request) -> None:
        check = CSRFCheck(lambda _request: HttpResponse())
        check.process_request(request._request)  # Django reads a form's token, and never reads any other body
        # DRF's CSRFCheck answers the reason of a refusal (a str), not Django's 403 page
        reason = cast(str | None, check.process_view(request._request, lambda _request: HttpResponse(), (), {}))
        if reason:
            raise CsrfFailed(reason)


@read_only
def authentication_words(exc: exceptions.APIException) -> tuple[str, str]:
    """Why a request is not authenticated, in Chinese and English: a token door's own bilingual reason, or the
    rule `auth.required` (DRF's own text is in one language only, the request's)."""
    zh, sep, en = str(exc.detail).partition(" / ")
    if sep and isinstance(exc, exceptions.AuthenticationFailed):
        return zh, en
    return render("auth.required", {})


@audited("user.created")
@transaction.atomic
def department_system_user(*, department: Department) -> User:
    """The account a department's own systems act as (tokens are issued to it), created on first need."""
    from core.models import Role

    user, created = User.objects.get_or_create(
        username=f"{department.code}-system",
        defaults={"role": Role.DEPARTMENT_SYSTEM, "department": department, "first_name": f"{department.name} 系统"},
    )
    if created:
        record(action="user.created", target=user, role=user.role, department=department.code, rule="system_account")
    return user


class TokenRateThrottle(UserRateThrottle):
    """Throttle per API token (per user for browser sessions), in the process's cache."""

    scope = "token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return self.cache_format % {"scope": self.scope, "ident": f"token-{request.auth.pk}"}
        return super().get_cache_key(request, view)
