"""Finance API routes (the ROI / P&L ledger), included by ``governance.api.urls`` under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from governance.ledger.api import views as ledger_views

router = SimpleRouter()
router.register(r"passports/(?P<passport_key>[^/]+)/ledger/entries", ledger_views.PassportEntryViewSet,
                basename="ledger-entry")
router.register("ledger/entries", ledger_views.EntryViewSet, basename="ledger-all-entries")

urlpatterns = [
    *router.urls,
    path("passports/<str:passport_key>/ledger/", ledger_views.LedgerFiguresView.as_view(), name="ledger-figures"),
    path("passports/<str:passport_key>/ledger/export/", ledger_views.LedgerExportView.as_view(),
         name="ledger-export"),
    path("passports/<str:passport_key>/ledger/ab-results/", ledger_views.AbBookView.as_view(), name="ledger-ab-book"),
    path("passports/<str:passport_key>/ledger/ab-results/preview/", ledger_views.AbPreviewView.as_view(),
         name="ledger-ab-preview"),
    path("passports/<str:passport_key>/business-case/", ledger_views.BusinessCaseView.as_view(),
         name="business-case"),
    path("ledger/import/", ledger_views.ImportView.as_view(), name="ledger-import"),
    path("ledger/portfolio/", ledger_views.PortfolioView.as_view(), name="ledger-portfolio"),
    path("ledger/portfolio/export/", ledger_views.PortfolioExportView.as_view(), name="ledger-portfolio-export"),
]
