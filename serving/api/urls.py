"""Serving API routes under /api/v1/serving/ (people) and /api/v1/agent/ (hosts)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from serving.api import views

router = SimpleRouter()
router.register("serving/hosts", views.HostViewSet, basename="serving-host")
router.register("serving/enrolment-tokens", views.EnrolmentTokenViewSet, basename="serving-enrolment-token")
router.register("serving/deployments", views.DeploymentViewSet, basename="serving-deployment")
router.register("serving/incidents", views.IncidentViewSet, basename="serving-incident")

urlpatterns = [
    *router.urls,
    path("serving/policies/<str:passport_key>/", views.PolicyView.as_view(), name="serving-policy"),
    path("serving/kserve-bundles/<str:token>/<str:name>", views.KServeBundleView.as_view(),
         name="serving-kserve-bundle"),
    path("agent/enrol/", views.AgentEnrolView.as_view(), name="agent-enrol"),
    path("agent/state/", views.AgentStateView.as_view(), name="agent-state"),
    path("agent/releases/<int:pk>/files/<str:name>", views.AgentReleaseFileView.as_view(),
         name="agent-release-file"),
    path("agent/releases/<int:pk>/signature", views.AgentReleaseSignatureView.as_view(),
         name="agent-release-signature"),
    path("agent/heartbeat/", views.AgentHeartbeatView.as_view(), name="agent-heartbeat"),
    path("agent/windows/", views.AgentWindowsView.as_view(), name="agent-windows"),
    path("agent/log-digests/", views.AgentLogDigestsView.as_view(), name="agent-log-digests"),
    path("agent/token/rotate/", views.AgentTokenRotateView.as_view(), name="agent-token-rotate"),
]
