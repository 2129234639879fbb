"""Who may see what. Anything a user may not see is a 404, never a hint that it exists."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from core.models import ApiToken, Department, Office, Unit, User


def signed_in(user: User | AnonymousUser) -> User:
    """The signed-in user a view acts for (login_required or IsAuthenticated came first); anonymous gets a 404."""
    if not isinstance(user, User):
        raise Http404
    return user


def access_own_unit(user: User | AnonymousUser) -> Unit:
    """The unit a cadre files for; everyone else (departments, office, anonymous) gets a 404."""
    if not (user.is_authenticated and user.is_cadre and user.unit_id):
        raise Http404
    cached = user.unit if User.unit.is_cached(user) else None
    if cached is not None and Unit.area.is_cached(cached):  # read with the user (API tokens)
        return cached
    unit = Unit.objects.select_related("area").get(pk=user.unit_id)
    user.unit = unit  # the page header shows it: no second query
    return unit


def access_department(user: User | AnonymousUser) -> Department:
    """The department a department analyst or system works for; everyone else gets a 404."""
    if not (user.is_authenticated and user.is_department_user and user.department_id):
        raise Http404
    department = Department.objects.select_related("jurisdiction").get(pk=user.department_id)
    user.department = department
    return department


def access_office(user: User | AnonymousUser) -> Office:
    """The office an office admin works for; everyone else gets a 404."""
    if not (user.is_authenticated and user.is_office_admin and user.office is not None):
        raise Http404
    return user.office


def access_department_token(department, pk: int | None) -> ApiToken:
    """One of the API tokens of the department's own systems."""
    token = ApiToken.objects.filter(pk=pk or 0, user__department=department).first()
    if token is None:
        raise Http404
    return token
