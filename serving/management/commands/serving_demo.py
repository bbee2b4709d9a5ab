"""``manage.py serving_demo --prepare`` / ``--deploy``: serving's part of ``make run`` (serving/demo.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Prepare the local host agent of the demo (enrolment and client tokens) or deploy the demo model on it."

    def add_arguments(self, parser):
        parser.add_argument("--prepare", action="store_true", help="print the agent's tokens as JSON")
        parser.add_argument("--deploy", action="store_true", help="approve and deploy the demo model")
        parser.add_argument("--state-dir", type=Path, default=Path("var/agent"))
        parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the agent to enrol")

    def handle(self, *args, **options):
        from serving import demo

        if options["prepare"]:
            self.stdout.write(json.dumps(demo.prepare(options["state_dir"])))
            return
        if not options["deploy"]:
            raise CommandError("give --prepare or --deploy")
        deadline = time.monotonic() + options["wait"]
        while (deployment := demo.deploy()) is None:
            if time.monotonic() > deadline:
                raise CommandError(f"the local agent did not enrol within {options['wait']:g} s")
            time.sleep(1)
        records = demo.traffic_records(deployment, options["state_dir"] / "demo-records.json")
        self.stdout.write(json.dumps({"deployment": deployment.pk, "passport": deployment.passport.key,
                                      "version": deployment.version.number, "traffic_records": records}))
