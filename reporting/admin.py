from django.contrib import admin

from reporting.models import Field, Sheet


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
