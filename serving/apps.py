from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServingConfig(AppConfig):
    name = "serving"
    verbose_name = _("Serving")

    def ready(self) -> None:
        from serving import providers  # noqa: F401  the registry pages' serving panels
