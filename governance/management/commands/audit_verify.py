"""Verify the audit hash chain; exit status 1 and the first broken event when it does not hold."""

import json

from django.core.management.base import BaseCommand, CommandError

from governance.audit.services import audit_verify


class Command(BaseCommand):
    help = "Walk the audit chain, recompute every hash, and name the first broken event."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **options):
        result = audit_verify()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        elif result.ok:
            self.stdout.write(self.style.SUCCESS(
                f"Audit chain intact: {result.events_checked} events, head {result.head_hash}"))
        if result.ok and result.checkpoint and not options["json"]:
            self.stdout.write(f"Held against the checkpoint of #{result.checkpoint['seq']} signed at "
                              f"{result.checkpoint['time']}.")
        if not result.ok:
            missing = (f" First missing event: #{result.first_missing_seq}." if result.first_missing_seq else "")
            raise CommandError(
                f"Audit chain BROKEN at event #{result.first_broken_seq} (id {result.first_broken_id}): "
                f"{result.reason}.{missing} {result.events_checked} events before it verified."
            )
