"""Project package and governance app: settings, Celery, audit chain, roles, tokens, workflow."""

from governance.celery import app as celery_app

__all__ = ("celery_app",)
