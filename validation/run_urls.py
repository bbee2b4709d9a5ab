"""Validation-run UI routes under /validation/ (namespace "validation", from ``validation.urls``)."""

from django.urls import path

from validation import views

urlpatterns = [
    path("runs/", views.run_list, name="run_list"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("passports/<str:key>/versions/<int:number>/runs/", views.version_runs, name="version_runs"),
    path("passports/<str:key>/versions/<int:number>/runs/start/", views.run_start, name="run_start"),
    path("passports/<str:key>/versions/<int:number>/explain/", views.explain, name="explain"),
]
