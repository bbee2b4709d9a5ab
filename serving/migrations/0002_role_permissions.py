from django.db import migrations


def grant(apps, schema_editor):
    """The roles get serving's permissions (hosts seen by reviewers and developers, deployments operated by
    engineers, hosts managed by administrators)."""
    from governance.accounts.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):

    dependencies = [
        ("serving", "0001_initial"),
        ("governance", "0009_test_acceptance"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
