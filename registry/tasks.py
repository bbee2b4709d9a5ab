"""The registry's periodic work: importing the new versions of followed MLflow models."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections


@shared_task(name="registry.mlflow_follow", ignore_result=True)
def mlflow_follow() -> dict:
    from registry.mlflow_follow import follows_poll

    close_old_connections()
    return follows_poll()
