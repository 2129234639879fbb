from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core import views

admin.site.site_header = "一表通 OneTable"
admin.site.site_title = "一表通 OneTable"

handler400 = "reporting.api.error_handlers.api_bad_request"
handler403 = "reporting.api.error_handlers.api_permission_denied"
handler404 = "reporting.api.error_handlers.api_not_found"
handler500 = "reporting.api.error_handlers.api_server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/live", views.live, name="health_live"),
    path("healthz/ready", views.ready, name="health_ready"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("reporting.api.urls")),
    path("dhis2/", include("reporting.dhis2.urls")),
    path("", include("reporting.urls")),
]
