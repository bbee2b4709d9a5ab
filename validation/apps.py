from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ValidationConfig(AppConfig):
    name = "validation"
    verbose_name = _("Validation")

    def ready(self) -> None:
        from validation import (
            audit_texts,  # noqa: F401  the audit log's sentences and links
            jobs,  # noqa: F401  report issuing as a background job
            providers,  # noqa: F401  fills the registry's page hooks
            tasks,  # noqa: F401  registers the run task that services look up by name
        )
