from django.urls import path

from reporting.views import department, office, requests, township

urlpatterns = [
    path("fill/", township.cadre_home, name="cadre_home"),
    path("fill/data-use/", township.data_use, name="unit_data_use"),
    path("fill/<str:period>/template.xlsx", township.excel_template, name="excel_template"),
    path("fill/<str:period>/upload/", township.excel_upload, name="excel_upload"),
    path("fill/<slug:sheet_code>/<str:period>/", township.fill, name="fill"),
    path("submissions/<int:pk>/", township.submission_detail, name="submission"),
    path("submissions/<int:pk>/correct/", township.correct, name="correct"),
    path("ledger/<slug:sheet_code>/", township.ledger, name="ledger"),
    path("ledger/<slug:sheet_code>/new/", township.ledger_add, name="ledger_add"),
    path("department/", department.department_home, name="department_home"),
    path("department/data/", department.data_table, name="department_data"),
    path("department/data.csv", department.data_csv, name="department_data_csv"),
    path("department/exports/", department.export_start, name="department_export_start"),
    path("department/exports/<int:pk>/", department.export_status, name="department_export"),
    path("department/exports/<int:pk>/download/", department.export_download, name="department_export_download"),
    path("department/completeness/", department.completeness, name="department_completeness"),
    path("department/chart/", department.chart, name="department_chart"),
    path("department/tokens/", department.tokens, name="department_tokens"),
    path("department/requests/", requests.request_list, name="department_requests"),
    path("department/requests/new/", requests.request_edit, name="department_request_new"),
    path("department/requests/<int:pk>/", requests.request_detail, name="department_request"),
    path("department/requests/<int:pk>/edit/", requests.request_edit, name="department_request_edit"),
    path("department/requests/<int:pk>/submit/", requests.request_submit, name="department_request_submit"),
    path("burden/", office.burden, name="burden"),
    path("office/requests/", requests.office_requests, name="office_requests"),
    path("office/requests/<int:pk>/", requests.office_review, name="office_review"),
    path("department/replay/", department.replay, name="department_replay"),
    path("department/endpoints/<int:pk>/active/", department.endpoint_active, name="department_endpoint_active"),
]
