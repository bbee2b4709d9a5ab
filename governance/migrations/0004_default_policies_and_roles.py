"""Seed the default risk-tier policies and give the roles their workflow permissions."""

from django.db import migrations

DEFAULT_POLICIES = [
    # tier, required sign-off roles, checklist required, validation depth, validity (months)
    (1, ["validator", "risk_officer", "security", "business_owner"], True, "full", 12),
    (2, ["validator", "risk_officer", "business_owner"], True, "standard", 24),
    (3, ["validator", "business_owner"], False, "basic", 36),
]


def seed(apps, schema_editor):
    from governance.accounts.roles import sync_role_groups

    Policy = apps.get_model("governance", "RiskTierPolicy")
    for tier, roles, checklist, depth, months in DEFAULT_POLICIES:
        Policy.objects.get_or_create(tier=tier, defaults={
            "required_roles": roles, "checklist_required": checklist, "validation_depth": depth,
            "approval_validity_months": months,
        })
    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0003_workflow"),
        ("validation", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
