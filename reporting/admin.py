from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from reporting.models import (
    AccessRecord,
    AllowedNetwork,
    Delivery,
    DueException,
    DueRule,
    Endpoint,
    Field,
    Sheet,
    Submission,
    SubmissionVersion,
    Subscription,
)
from reporting.services import deliveries, endpoints


class FieldInline(admin.TabularInline):
    model = Field
    extra = 0
    fields = [
        "order",
        "code",
        "name_zh",
        "name_en",
        "type",
        "constraints",
        "unit_of_measure",
        "stable",
        "allow_na",
        "status",
    ]


@admin.register(Sheet)
class SheetAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "cadence", "topic_zh", "status"]
    list_filter = ["cadence", "status"]
    inlines = [FieldInline]


@admin.register(Field)
class FieldAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "sheet", "type", "stable", "status"]
    list_filter = ["sheet", "type", "status", "stable"]
    search_fields = ["code", "name_zh", "name_en"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never changed here: the change has a service of its own that checks and audits it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Subscriptions change only through reviewed data requests and the office's catalogue actions (audited, checked:
# an endpoint of the subscription's own department, fields reviewed before any unit is asked); the due-date
# calendar only through /office/calendar/ (which refuses moving a due date gone by). Edited here, a subscription
# could push one department's data to another's endpoint, unaudited.
@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["pk", "department", "purpose", "scope", "starts_on", "expires_on", "status", "endpoint"]
    list_filter = ["department", "status"]
    filter_horizontal = ["fields"]
    raw_id_fields = ["scope"]


@admin.register(DueRule)
class DueRuleAdmin(ReadOnlyAdmin):
    list_display = ["cadence", "days_after_period_end"]


@admin.register(DueException)
class DueExceptionAdmin(ReadOnlyAdmin):
    list_display = ["sheet", "period", "due_on", "reason"]


@admin.register(AllowedNetwork)
class AllowedNetworkAdmin(admin.ModelAdmin):
    list_display = ["cidr", "note"]


class EndpointForm(forms.ModelForm):
    class Meta:
        model = Endpoint
        fields = ["department", "name", "url", "active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        refusal = endpoints.url_refusal(url)
        if refusal is not None:
            raise forms.ValidationError(refusal.message)
        return url


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["name", "department", "url", "active", "failures", "open_until"]
    # The secret is shown once, to the department that adds the endpoint or rotates its secret
    # (/department/endpoints/, the API); here only enough of it to tell which one a receiver holds.
    readonly_fields = ["secret_hint", "failures", "open_until", "last_error"]

    @admin.display(description=_("signing secret"))
    def secret_hint(self, obj: Endpoint) -> str:
        return endpoints.secret_hint(obj.secret)

    def save_model(self, request, obj, form, change):
        if not change:
            deliveries.create_endpoint(endpoint=obj, by=request.user)
            return
        super().save_model(request, obj, form, change)
        if "active" in form.changed_data:  # pausing here is pausing: audited, and a resume sends what waited
            deliveries.set_endpoint_active(endpoint=obj, active=obj.active, by=request.user)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "department", "endpoint", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "department"]


@admin.register(AccessRecord)
class AccessRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "department", "unit", "sheet", "periods", "kind"]
    list_filter = ["kind", "department"]


class VersionInline(admin.TabularInline):
    model = SubmissionVersion
    extra = 0
    fields = readonly_fields = ("number", "at", "by", "reason", "values", "not_applicable")
    can_delete = False


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ["pk", "unit", "sheet", "period", "current_version", "updated_at"]
    list_filter = ["sheet"]
    inlines = [VersionInline]
