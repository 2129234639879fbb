from django import forms
from django.contrib import admin

from reporting.delivery import webhooks
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
from reporting.services import deliveries


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


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["pk", "department", "purpose", "scope", "starts_on", "expires_on", "status", "endpoint"]
    list_filter = ["department", "status"]
    filter_horizontal = ["fields"]
    raw_id_fields = ["scope"]


@admin.register(DueRule)
class DueRuleAdmin(admin.ModelAdmin):
    list_display = ["cadence", "days_after_period_end"]


@admin.register(DueException)
class DueExceptionAdmin(admin.ModelAdmin):
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
        try:
            webhooks.resolve_allowed(url, list(AllowedNetwork.objects.values_list("cidr", flat=True)))
        except (webhooks.Refused, webhooks.Unresolved) as refused:  # a name that resolves nowhere is checked nowhere
            raise forms.ValidationError(str(refused)) from None
        return url


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["name", "department", "url", "active", "failures", "open_until"]
    readonly_fields = ["secret", "failures", "open_until", "last_error"]

    def save_model(self, request, obj, form, change):
        if not change:
            deliveries.create_endpoint(endpoint=obj, by=request.user)
            return
        super().save_model(request, obj, form, change)
        if "active" in form.changed_data:  # pausing here is pausing: audited, and a resume sends what waited
            deliveries.set_endpoint_active(endpoint=obj, active=obj.active, by=request.user)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
