from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "OneTable reporting"

    def ready(self) -> None:
        from reporting.filing import supply_readers  # noqa: F401  # registers the supply formats' readers
