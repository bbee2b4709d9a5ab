"""Seed the demo data (accounts, organisation, four passports with datasets and versions); idempotent."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.demo.seed import account_rows, seed_demo


class Command(BaseCommand):
    help = (
        "Create one demo account per role, business units, teams and four documented passports (credit scoring, "
        "fraud detection, demand forecast, churn MLP) with datasets and ONNX versions, all through the registry "
        "services as the developer. Does nothing when the demo passports exist. Refuses to run with DEBUG off "
        "unless --force: every account's password is published. --accounts prints only the account table."
    )

    def add_arguments(self, parser):
        parser.add_argument("--accounts", action="store_true", help="Print the demo accounts (role, username, "
                            "password) and change nothing.")
        parser.add_argument("--force", action="store_true", help="Seed even with DEBUG off (the accounts, a "
                            "superuser included, share a published password).")

    def handle(self, *args, **options):
        if options["accounts"]:
            self._print_accounts()
            return
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates accounts with a published password, a superuser among them; it "
                               "runs only with DEBUG on (the local settings). Pass --force to seed anyway.")
        result = seed_demo()
        if not result.created:
            self.stdout.write("Demo data exists (the demo passports are there); nothing changed.")
            return
        self.stdout.write(self.style.SUCCESS(
            f"Demo data created in {result.seconds:.1f} s: passports {', '.join(result.passports) or 'none'}; "
            f"{result.versions} versions, {result.datasets} datasets, {result.audit_events} audit events."
        ))

    def _print_accounts(self):
        rows = [("Role", "Username", "Password"), *account_rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(("  " + "  ".join(cells)).rstrip())
