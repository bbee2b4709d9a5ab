from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The kernel: no models; installed for its template tags (``{% load ui %}``)."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from core.sqlite import install_unicode_like

        connection_created.connect(install_unicode_like, dispatch_uid="core.sqlite.unicode_like")
