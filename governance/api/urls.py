"""Governance API routes, mounted under /api/v1/ by the root urls."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from governance.accounts.api import views as account_views
from governance.audit.api import views as audit_views
from governance.dossier.api import views as dossier_views
from governance.webhooks.api import views as webhook_views
from governance.workflow.api import views as workflow_views

app_name = "governance-api"

router = SimpleRouter()
router.register("audit-events", audit_views.AuditEventViewSet, basename="audit-event")
router.register("tokens", account_views.TokenViewSet, basename="token")
router.register(r"passports/(?P<passport_key>[^/]+)/versions", workflow_views.VersionWorkflowViewSet,
                basename="passport-version-workflow")
router.register("findings", workflow_views.FindingViewSet, basename="finding")
router.register("policies", workflow_views.PolicyViewSet, basename="policy")
router.register("webhooks/subscribers", webhook_views.SubscriberViewSet, basename="webhook-subscriber")
router.register("webhooks/deliveries", webhook_views.DeliveryViewSet, basename="webhook-delivery")

urlpatterns = [
    *router.urls,
    path("", include("governance.ledger.api.urls")),
    path("inbox/", workflow_views.InboxView.as_view(), name="inbox"),
    path("portfolio/", workflow_views.PortfolioView.as_view(), name="portfolio"),
    path("passports/<str:passport_key>/dossier.pdf", dossier_views.DossierView.as_view(), name="passport-dossier"),
    path("passports/<str:passport_key>/evidence-pack.zip", dossier_views.EvidencePackView.as_view(),
         name="passport-evidence-pack"),
]
