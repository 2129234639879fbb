from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from reporting.api import unit

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("v1/unit/one-table", unit.OneTableView.as_view(), name="api_one_table"),
    path("v1/unit/submissions", unit.SubmissionsView.as_view(), name="api_submissions"),
    path("v1/unit/submissions/<int:pk>", unit.SubmissionView.as_view(), name="api_submission"),
    path("v1/unit/submissions/<int:pk>/versions/<int:number>", unit.VersionView.as_view(), name="api_version"),
    path("v1/unit/submissions/<int:pk>/corrections", unit.CorrectionsView.as_view(), name="api_corrections"),
]
