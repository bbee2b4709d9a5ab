from django.db import migrations


def grant(apps, schema_editor):
    """The administrator's group holds every permission: those of the monitoring hours, the usage bookings and the
    sessions, which came after the last synchronisation, too."""
    from governance.accounts.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):

    dependencies = [
        ("serving", "0005_alert_said"),
        ("governance", "0011_webhooks"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
