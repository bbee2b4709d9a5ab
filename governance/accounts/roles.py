"""Which model-level permissions each role (group) holds. Object-level rules live in each app's permissions.py.

Data migrations call :func:`sync_role_groups` so that groups and their permissions exist on every database.
"""

from __future__ import annotations

from governance.accounts.choices import Role

_READ_ALL = [
    "registry.view_modelpassport", "registry.view_modelversion", "registry.view_dataset", "registry.view_alias",
]

_READ_REVIEWS = [
    "governance.view_versionreview", "governance.view_signoff", "governance.view_finding",
    "governance.view_checklistitem", "governance.view_validatorassignment", "governance.view_risktierpolicy",
    "validation.view_validationreport",
]

# Amounts of every ledger (finance, risk officers, auditors). Booking also needs the object permission
# governance.manage_ledger_businessunit on the passport's business unit (governance.ledger.permissions).
_LEDGER_READ = ["governance.view_ledgerentry"]  # also decides who reads business cases

# Serving hosts are seen by whoever deploys, reviews or audits serving; engineers operate every passport's
# deployments (serving.permissions); hosts are managed by administrators only.
_SERVING_READ = ["serving.view_host"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.MODEL_DEVELOPER: ["registry.add_modelpassport", *_SERVING_READ],
    Role.MODEL_OWNER: ["registry.add_modelpassport", *_SERVING_READ],
    Role.ENGINEER: ["registry.add_modelpassport", *_SERVING_READ, "serving.operate_deployment"],
    Role.VALIDATOR: [*_READ_ALL, *_READ_REVIEWS, "governance.raise_finding"],
    Role.RISK_OFFICER: [*_READ_ALL, *_READ_REVIEWS, *_LEDGER_READ, "governance.view_auditevent",
                        "governance.assign_validator",
                        "governance.revoke_approval", "governance.raise_finding", "governance.accept_risk",
                        "registry.retier_modelpassport", *_SERVING_READ],
    Role.SECURITY: [*_READ_ALL, *_READ_REVIEWS, "governance.view_auditevent", "governance.raise_finding",
                    "governance.answer_checklist", *_SERVING_READ],
    Role.FINANCE: [*_READ_ALL, *_LEDGER_READ, "governance.add_ledgerentry"],
    Role.AUDITOR: [*_READ_ALL, *_READ_REVIEWS, *_LEDGER_READ, "governance.view_auditevent", "governance.view_apitoken",
                   "governance.view_team", "governance.view_businessunit", *_SERVING_READ,
                   "governance.view_webhooksubscriber"],
    Role.ADMIN: ["*"],
}


def sync_role_groups(apps) -> None:
    """Create every role group and give it the permissions listed above that exist so far (idempotent)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if perms == ["*"]:
            group.permissions.set(Permission.objects.all())
            continue
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            # A permission of a model that a later migration creates is granted when that migration syncs.
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
