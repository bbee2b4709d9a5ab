"""Which model-level permissions each role (group) holds. Object-level rules live in each app's permissions.py.

Data migrations call :func:`sync_role_groups` so that groups and their permissions exist on every database.
"""

from __future__ import annotations

from .choices import Role

_READ_ALL = [
    "registry.view_modelpassport", "registry.view_modelversion", "registry.view_dataset", "registry.view_alias",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.MODEL_DEVELOPER: ["registry.add_modelpassport"],
    Role.MODEL_OWNER: ["registry.add_modelpassport"],
    Role.ENGINEER: ["registry.add_modelpassport"],
    Role.VALIDATOR: [*_READ_ALL],
    Role.RISK_OFFICER: [*_READ_ALL, "governance.view_auditevent"],
    Role.SECURITY: [*_READ_ALL, "governance.view_auditevent"],
    Role.FINANCE: [*_READ_ALL],
    Role.AUDITOR: [*_READ_ALL, "governance.view_auditevent", "governance.view_apitoken", "governance.view_team",
                   "governance.view_businessunit"],
    Role.ADMIN: ["*"],
}


def sync_role_groups(apps) -> None:
    """Create every role group and give it exactly the permissions listed above (idempotent)."""
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
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
