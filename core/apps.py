from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The kernel: no models; installed for its template tags (``{% load ui %}``)."""

    name = "core"
    verbose_name = "Core"
