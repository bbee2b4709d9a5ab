"""Import a version from MLflow: ``manage.py mlflow_import PASSPORT MODEL_URI --as USERNAME [--tracking-uri URI]``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from registry import mlflow_import
from registry.models import ModelPassport


class Command(BaseCommand):
    help = ("Import a registered MLflow model version (models:/name/3, models:/name@alias) or a run's model "
            "(runs:/<id>/model) as the passport's next version, converted to ONNX with a parity check.")

    def add_arguments(self, parser):
        parser.add_argument("passport")
        parser.add_argument("model_uri")
        parser.add_argument("--as", dest="username", required=True, help="the user the import is made as")
        parser.add_argument("--tracking-uri", default="", help="an allowed server (MG_MLFLOW_TRACKING_URIS)")
        parser.add_argument("--tolerance", type=float, default=mlflow_import.DEFAULT_TOLERANCE)

    def handle(self, *args, passport, model_uri, username, tracking_uri, tolerance, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        record = ModelPassport.objects.filter(key=passport).first()
        if user is None or record is None:
            raise CommandError(f"no active user {username!r}" if user is None else f"no passport {passport!r}")
        try:
            version, created = mlflow_import.version_import(actor=user, passport=record, model_uri=model_uri,
                                                            tracking_uri=tracking_uri, tolerance=tolerance)
        except DomainError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        parity = (version.provenance.get("parity") or {}).get("max_abs_diff")
        note = f", parity {parity:.3g}" if parity is not None else ""
        self.stdout.write(f"{version} {'imported' if created else 'was imported before'} "
                          f"from {version.mlflow_model_uri}{note}")
