"""Validation-run API routes, under /api/v1/validation/ (``validation.api_urls``)."""

from rest_framework.routers import SimpleRouter

from validation.api import runs as api

router = SimpleRouter()
router.register("runs", api.ValidationRunViewSet, basename="run")

urlpatterns = [*router.urls]
