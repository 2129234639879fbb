"""The DHIS2 face: /dhis2/api/... and /dhis2/api/<version>/..., each with DHIS2's optional format suffix."""

from django.urls import re_path

from reporting.dhis2 import analytics, views

_API = r"^api/(?:(?P<version>[0-9]{2})/)?"
_EXT = r"(?:\.(?P<ext>json|csv|adx|xml))?$"


def _route(path: str, view, name: str, ext: str = r"(?:\.json)?$"):
    return re_path(_API + path + ext, view.as_view(), name=name)


urlpatterns = [
    _route(r"analytics", analytics.AnalyticsView, "dhis2_analytics"),
    _route(r"system/info", views.SystemInfoView, "dhis2_system_info"),
    _route(r"me", views.MeView, "dhis2_me"),
    _route(r"dataSets", views.DataSetsView, "dhis2_data_sets"),
    _route(r"dataSets/(?P<uid>[^/.]+)", views.DataSetsView, "dhis2_data_set"),
    _route(r"dataElements", views.DataElementsView, "dhis2_data_elements"),
    _route(r"dataElements/(?P<uid>[^/.]+)", views.DataElementsView, "dhis2_data_element"),
    _route(r"organisationUnits", views.OrganisationUnitsView, "dhis2_org_units"),
    _route(r"organisationUnits/(?P<uid>[^/.]+)", views.OrganisationUnitsView, "dhis2_org_unit"),
    _route(r"dataValueSets", views.DataValueSetsView, "dhis2_data_value_sets", _EXT),
    _route(r"system/tasks/DATAVALUE_IMPORT/(?P<pk>[0-9]{1,12})", views.TaskView, "dhis2_task"),
    _route(r"system/taskSummaries/DATAVALUE_IMPORT/(?P<pk>[0-9]{1,12})", views.TaskSummaryView, "dhis2_task_summary"),
]
