"""Serving UI routes, mounted at /serving/."""

from django.urls import path

from serving import views

app_name = "serving"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("hosts/enrol/", views.host_enrol, name="host_enrol"),
    path("hosts/<int:pk>/revoke/", views.host_revoke, name="host_revoke"),
    path("passports/<slug:key>/deploy/", views.deployment_new, name="deployment_new"),
    path("passports/<slug:key>/monitoring/", views.passport_monitoring, name="passport_monitoring"),
    path("deployments/<int:pk>/", views.deployment_detail, name="deployment_detail"),
    path("deployments/<int:pk>/kserve.yaml", views.deployment_kserve, name="deployment_kserve"),
    path("deployments/<int:pk>/challenger/", views.deployment_challenger, name="deployment_challenger"),
    path("deployments/<int:pk>/promote/", views.deployment_promote, name="deployment_promote"),
    path("deployments/<int:pk>/rollback/", views.deployment_rollback, name="deployment_rollback"),
    path("deployments/<int:pk>/stop/", views.deployment_stop, name="deployment_stop"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident_detail"),
    path("incidents/<int:pk>/acknowledge/", views.incident_acknowledge, name="incident_acknowledge"),
    path("incidents/<int:pk>/resolve/", views.incident_resolve, name="incident_resolve"),
]
