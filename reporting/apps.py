from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "OneTable reporting"

    def ready(self) -> None:
        # the DHIS2 face's supply-job readers (SUPPLY_FORMATS), in the web process and the worker alike
        from reporting.filing import supply_readers  # noqa: F401  # registers the supply formats' readers
        from reporting.services import dhis2  # noqa: F401
