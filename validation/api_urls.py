"""Validation API routes under /api/v1/validation/: runs and issued reports."""

from django.urls import include, path

app_name = "validation-api"

urlpatterns = [
    path("", include("validation.run_api_urls")),
    path("", include("validation.report_api_urls")),
]
