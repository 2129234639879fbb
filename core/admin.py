from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from core.models import ApiToken, Area, AuditEvent, Department, Office, Unit, User
from core.tokens import revoke_token


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name"]
    raw_id_fields = ["parent"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["name", "area"]
    search_fields = ["name", "area__code"]
    raw_id_fields = ["area"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "jurisdiction"]
    raw_id_fields = ["jurisdiction"]


@admin.register(Office)
class OfficeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "area"]
    raw_id_fields = ["area"]


BASE_FIELDSETS = BaseUserAdmin.fieldsets or ()  # the stubs allow None; Django's UserAdmin always sets them


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "first_name", "role", "unit", "department", "office", "is_active"]
    list_filter = ["role", "is_active"]
    raw_id_fields = ["unit"]
    fieldsets = (
        *BASE_FIELDSETS[:1],
        ("Role", {"fields": ("role", "unit", "department", "office")}),
        *[fs for fs in BASE_FIELDSETS[1:] if "last_login" not in fs[1]["fields"]],
    )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "target_type", "target_id", "seq"]  # seq: its place in the chain
    list_filter = ["action"]

    # written only by the services that make the changes they record (`core.audit.record`): an event added here
    # would be anyone's word, pinned on any actor, and sealed into the chain as if it had happened
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued from the department page or `manage.py issue_token`; here they are listed and revoked."""

    list_display = ["name", "prefix", "user", "created_at", "expires_at", "revoked_at"]
    list_filter = ["user__department"]
    readonly_fields = ["name", "prefix", "user", "created_at", "expires_at", "revoked_at"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens / 吊销所选令牌")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            revoke_token(token=token, by=request.user)
