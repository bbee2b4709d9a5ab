"""The Celery application; tasks are discovered in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings.local")

app = Celery("governance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """kombu's filesystem transport needs its folders to exist before anyone sends or consumes."""
    options = app.conf.broker_transport_options or {}
    folders = [options.get(key) for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")]
    backend = str(app.conf.result_backend or "")
    if backend.startswith("file://"):
        folders.append(backend[len("file://") :])
    for folder in filter(None, folders):
        os.makedirs(folder, exist_ok=True)


@worker_init.connect
def _worker_init(**kwargs):
    ensure_broker_folders()


@app.task(name="governance.ping", ignore_result=False)
def ping() -> str:
    """Round-trip check used by health checks and tests: proves a worker consumes from the broker."""
    return "pong"
