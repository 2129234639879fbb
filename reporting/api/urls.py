from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from reporting.api import aggregates, department, disputes, docs, endpoints, questions, reports, supplies, unit

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api_schema"), name="api_redoc"),
    path("redoc/redoc.standalone.js", docs.redoc_bundle, name="api_redoc_bundle"),
    path("v1/unit/one-table", unit.OneTableView.as_view(), name="api_one_table"),
    path("v1/unit/submissions", unit.SubmissionsView.as_view(), name="api_submissions"),
    path("v1/unit/submissions/<int:pk>", unit.SubmissionView.as_view(), name="api_submission"),
    path("v1/unit/submissions/<int:pk>/versions/<int:number>", unit.VersionView.as_view(), name="api_version"),
    path("v1/unit/submissions/<int:pk>/corrections", unit.CorrectionsView.as_view(), name="api_corrections"),
    path("v1/unit/questions", questions.UnitQuestionsView.as_view(), name="api_unit_questions"),
    path(
        "v1/unit/questions/<str:question_id>/answer",
        questions.UnitQuestionAnswerView.as_view(),
        name="api_unit_question_answer",
    ),
    path("v1/department/questions", questions.DepartmentQuestionsView.as_view(), name="api_questions"),
    path("v1/department/questions/<str:question_id>", questions.DepartmentQuestionView.as_view(), name="api_question"),
    path("v1/catalogue", department.CatalogueView.as_view(), name="api_catalogue"),
    path("v1/subscriptions", department.SubscriptionsView.as_view(), name="api_subscriptions"),
    path("v1/aggregates", aggregates.AggregatesView.as_view(), name="api_aggregates"),
    path("v1/reports", reports.ReportTemplatesView.as_view(), name="api_reports"),
    path("v1/reports/<int:pk>/generate", reports.ReportGenerateView.as_view(), name="api_report_generate"),
    path("v1/reports/jobs/<int:pk>", reports.ReportJobView.as_view(), name="api_report_job"),
    path("v1/reports/jobs/<int:pk>/download", reports.ReportDownloadView.as_view(), name="api_report_download"),
    path("v1/data", department.DataView.as_view(), name="api_data"),
    path("v1/feed", department.FeedView.as_view(), name="api_feed"),
    path("v1/deliveries", department.DeliveryStatusView.as_view(), name="api_deliveries"),
    path("v1/deliveries/replay", department.ReplayView.as_view(), name="api_replay"),
    path("v1/department/disputes", disputes.DisputesView.as_view(), name="api_disputes"),
    path("v1/department/disputes/<str:dispute_id>", disputes.DisputeView.as_view(), name="api_dispute"),
    path(
        "v1/department/disputes/<str:dispute_id>/answer",
        disputes.DisputeAnswerView.as_view(),
        name="api_dispute_answer",
    ),
    path("v1/department/supplies", supplies.SuppliesView.as_view(), name="api_supplies"),
    path("v1/department/supplies/jobs/<int:pk>", supplies.SupplyJobView.as_view(), name="api_supply_job"),
    path("v1/endpoints", endpoints.EndpointsView.as_view(), name="api_endpoints"),
    path("v1/endpoints/<int:pk>/rotate", endpoints.EndpointRotateView.as_view(), name="api_endpoint_rotate"),
    path("v1/endpoints/<int:pk>/active", department.EndpointActiveView.as_view(), name="api_endpoint_active"),
]
