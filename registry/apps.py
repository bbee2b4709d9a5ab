from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = _("Registry")

    def ready(self) -> None:
        from registry import (
            audit_texts,  # noqa: F401  the audit log's sentences and links
            jobs,  # noqa: F401  MLflow import as a background job
            permissions,  # noqa: F401  registers the relation rules
        )
