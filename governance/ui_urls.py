"""UI routes mounted at the site root.

``home``, ``login`` and ``logout`` are top-level names (settings.LOGIN_URL, LOGIN_REDIRECT_URL and
LOGOUT_REDIRECT_URL refer to them); governance pages live in the ``governance`` namespace. Workflow verbs of a
version sit under its page, ``/passports/<key>/versions/<n>/review/<verb>/`` (the registry has no ``review/``).
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from governance import views
from governance.accounts import views as account_views
from governance.audit import views as audit_views
from governance.dossier import views as dossier_views
from governance.jobs import views as job_views
from governance.ledger import views as ledger_pages
from governance.webhooks import views as webhook_views
from governance.workflow import views as workflow_views

governance_patterns = [
    path("audit/", audit_views.audit_log, name="audit_log"),
    path("audit/verify/", audit_views.audit_verify_view, name="audit_verify"),
    path("audit/export.csv", audit_views.audit_export, name="audit_export"),
    path("tokens/", account_views.token_list, name="token_list"),
    path("tokens/<int:pk>/revoke/", account_views.token_revoke_view, name="token_revoke"),
    path("webhooks/", webhook_views.webhook_list, name="webhook_list"),
    path("webhooks/<int:pk>/", webhook_views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/active/", webhook_views.webhook_toggle, name="webhook_toggle"),
    path("webhooks/<int:pk>/test/", webhook_views.webhook_test, name="webhook_test"),
    path("webhooks/<int:pk>/rotate/", webhook_views.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:pk>/deliveries/<int:delivery>/redeliver/", webhook_views.webhook_redeliver,
         name="webhook_redeliver"),
    path("jobs/", job_views.job_list, name="job_list"),
    path("jobs/<int:pk>/", job_views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/progress/", job_views.job_progress, name="job_progress"),
    path("jobs/<int:pk>/download/", job_views.job_download, name="job_download"),
    path("reviews/", workflow_views.inbox, name="inbox"),
    path("portfolio/", workflow_views.portfolio, name="portfolio"),
    path("passports/<slug:key>/dossier.pdf", dossier_views.passport_dossier, name="passport_dossier"),
    path("passports/<slug:key>/evidence-pack.zip", dossier_views.passport_evidence_pack,
         name="passport_evidence_pack"),
    path("passports/<slug:key>/dossier/prepare/", dossier_views.passport_dossier_prepare,
         name="passport_dossier_prepare"),
    path("passports/<slug:key>/evidence-pack/prepare/", dossier_views.passport_evidence_pack_prepare,
         name="passport_evidence_pack_prepare"),
]

VERSION = "passports/<slug:key>/versions/<int:number>/review/"
workflow_patterns = [
    path(f"{VERSION}submit/", workflow_views.version_submit, name="version_submit"),
    path(f"{VERSION}assign/", workflow_views.validator_assign, name="validator_assign"),
    path(f"{VERSION}report/", workflow_views.report_issue, name="report_issue"),
    path(f"{VERSION}reports/<int:pk>/download/", workflow_views.report_download, name="report_download"),
    path(f"{VERSION}validated/", workflow_views.version_mark_validated, name="version_mark_validated"),
    path(f"{VERSION}findings/", workflow_views.finding_raise, name="finding_raise"),
    path(f"{VERSION}findings/<int:pk>/status/", workflow_views.finding_set_status, name="finding_set_status"),
    path(f"{VERSION}checklist/<str:code>/", workflow_views.checklist_answer, name="checklist_answer"),
    path(f"{VERSION}checklist/<str:code>/attachment/", workflow_views.checklist_attachment,
         name="checklist_attachment"),
    path(f"{VERSION}sign/", workflow_views.signoff_record, name="signoff_record"),
    path(f"{VERSION}accept-test/", workflow_views.test_accept, name="test_accept"),
    path(f"{VERSION}reject/", workflow_views.version_reject, name="version_reject"),
    path(f"{VERSION}revoke/", workflow_views.version_revoke, name="version_revoke"),
    path(f"{VERSION}retire/", workflow_views.version_retire, name="version_retire"),
]
governance_patterns += workflow_patterns
governance_patterns += [
    path("finance/", ledger_pages.finance_portfolio, name="finance_portfolio"),
    path("passports/<slug:key>/ledger/", ledger_pages.passport_ledger, name="passport_ledger"),
    path("passports/<slug:key>/ledger/book/", ledger_pages.ledger_book, name="ledger_book"),
    path("passports/<slug:key>/ledger/ab-result/", ledger_pages.ledger_ab, name="ledger_ab"),
    path("passports/<slug:key>/ledger/business-case/", ledger_pages.business_case, name="business_case"),
    path("finance/import/", ledger_pages.ledger_import, name="ledger_import"),
    path("passports/<slug:key>/ledger/entries/<int:pk>/reverse/", ledger_pages.ledger_reverse, name="ledger_reverse"),
    path("passports/<slug:key>/ledger/entries/<int:pk>/evidence/", ledger_pages.ledger_evidence,
         name="ledger_evidence"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include((governance_patterns, "governance"))),
]
