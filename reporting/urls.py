from django.urls import path

from reporting.views import department, township

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
    path("department/replay/", department.replay, name="department_replay"),
    path("department/endpoints/<int:pk>/active/", department.endpoint_active, name="department_endpoint_active"),
]
