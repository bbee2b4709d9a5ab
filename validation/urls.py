"""Validation UI routes under /validation/: runs (validation.run_urls) and issued reports (validation.report_urls)."""

from django.urls import include, path

app_name = "validation"

urlpatterns = [
    path("", include("validation.run_urls")),
    path("", include("validation.report_urls")),
]
