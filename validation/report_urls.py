"""Validation report UI routes under /validation/ (namespace "validation", from ``validation.urls``)."""

from django.urls import path

from validation import report_views

urlpatterns = [
    path("runs/<int:pk>/issue/", report_views.report_issue, name="report_issue"),
    path("reports/<int:pk>/", report_views.report_html, name="report_html"),
    path("reports/<int:pk>/pdf/", report_views.report_pdf, name="report_pdf"),
]
