"""Validation report API routes, under /api/v1/validation/ (``validation.api_urls``)."""

from django.urls import path

from validation.api import reports as report_api

urlpatterns = [
    path("runs/<int:pk>/report/", report_api.ReportIssueView.as_view(), name="run-report"),
    path("reports/<int:pk>/", report_api.ReportDetailView.as_view(), name="report-detail"),
    path("reports/<int:pk>/html/", report_api.ReportHtmlView.as_view(), name="report-html"),
    path("reports/<int:pk>/pdf/", report_api.ReportPdfView.as_view(), name="report-pdf"),
]
