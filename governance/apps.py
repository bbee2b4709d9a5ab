from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = _("Governance")

    def ready(self) -> None:
        from governance.celery import ensure_broker_folders

        ensure_broker_folders()
        # The rooms' answers to the hooks, relations and signals of the rooms below them (core.hooks).
        from governance.accounts import audit_texts as account_texts  # noqa: F401  the audit log's sentences
        from governance.accounts import lockout  # noqa: F401  login lockouts audited
        from governance.accounts import receivers as account_receivers  # noqa: F401  role / team changes audited
        from governance.dossier import audit_texts as dossier_texts  # noqa: F401
        from governance.dossier import jobs as dossier_jobs  # noqa: F401  exports as background jobs
        from governance.jobs import tasks as job_tasks  # noqa: F401  the job task that services send by name
        from governance.ledger import audit_texts as ledger_texts  # noqa: F401
        from governance.ledger import providers as ledger_providers  # noqa: F401
        from governance.webhooks import audit_texts as webhook_texts  # noqa: F401
        from governance.webhooks import receivers as webhook_receivers  # noqa: F401  audit events -> deliveries
        from governance.workflow import audit_texts as workflow_texts  # noqa: F401
        from governance.workflow import permissions as workflow_permissions  # noqa: F401
        from governance.workflow import providers as workflow_providers  # noqa: F401
