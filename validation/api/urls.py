"""Validation API routes under /api/v1/validation/: runs and issued reports."""

from django.urls import include, path

from validation.api.explanations import ExplanationView

app_name = "validation-api"

urlpatterns = [
    path("", include("validation.api.run_urls")),
    path("", include("validation.api.report_urls")),
    path("explanations/", ExplanationView.as_view(), name="explanations"),
]
