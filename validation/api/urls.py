"""Validation API routes under /api/v1/validation/: runs and issued reports."""

from django.urls import include, path

app_name = "validation-api"

urlpatterns = [
    path("", include("validation.api.run_urls")),
    path("", include("validation.api.report_urls")),
]
