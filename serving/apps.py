from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServingConfig(AppConfig):
    name = "serving"
    verbose_name = _("Serving")

    def ready(self) -> None:
        from serving import (
            audit_texts,  # noqa: F401  the audit log's sentences and links
            providers,  # noqa: F401  the registry pages' serving panels
        )
