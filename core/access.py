"""Who may see what. Anything a user may not see is a 404, never a hint that it exists."""

from __future__ import annotations

from django.http import Http404

from core.models import Unit, User


def access_own_unit(user: User) -> Unit:
    """The unit a cadre files for; everyone else (departments, office, anonymous) gets a 404."""
    if not (user.is_authenticated and user.is_cadre and user.unit_id):
        raise Http404
    if User.unit.is_cached(user) and Unit.area.is_cached(user.unit):  # read with the user (API tokens)
        return user.unit
    unit = Unit.objects.select_related("area").get(pk=user.unit_id)
    user.unit = unit  # the page header shows it: no second query
    return unit


def access_department(user: User):
    """The department a department analyst or system works for; everyone else gets a 404."""
    from core.models import Department

    if not (user.is_authenticated and user.is_department_user and user.department_id):
        raise Http404
    department = Department.objects.select_related("jurisdiction").get(pk=user.department_id)
    user.department = department
    return department


def access_office(user: User):
    """The office an office admin works for; everyone else gets a 404."""
    if not (user.is_authenticated and user.is_office_admin):
        raise Http404
    return user.office
