"""Time the finance portfolio endpoint in-process (median and p95 over repeated requests, query count)."""

from __future__ import annotations

import json
import math
import os
import statistics
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from governance.ledger.models import LedgerEntry
from governance.ledger.selectors import ledger_passports
from registry.models import ModelPassport

TARGETS = (
    ("portfolio, by key", "/api/v1/ledger/portfolio/"),
    ("portfolio, by net P&L desc", "/api/v1/ledger/portfolio/?ordering=-net"),
    ("portfolio, by plan variance", "/api/v1/ledger/portfolio/?ordering=plan_variance"),
    ("portfolio, one unit + tier 1", "/api/v1/ledger/portfolio/?business_unit={unit}&tier=1"),
    ("portfolio page, by net P&L desc", "/finance/"),
    ("portfolio page, by plan variance", "/finance/?sort=plan_variance"),
    ("portfolio page, one unit + tier 1", "/finance/?business_unit={unit}&tier=1"),
    ("ledger page of one passport", "/passports/{key}/ledger/"),
    ("ledger figures of a passport", "/api/v1/passports/{key}/ledger/"),
)
DEFAULT_USERS = {"auditor": "scale-auditor", "finance": "scale-finance"}


class Command(BaseCommand):
    help = (
        "Measure the median and p95 time and the query count of GET /api/v1/ledger/portfolio/ and the /finance/ "
        "page (by key, by net "
        "P&L, by plan variance, filtered by a business unit and tier 1) and of one passport's ledger figures, "
        "in-process with django.test.Client (DEBUG off, no network, the connection kept open), logged in as an "
        "auditor (reads every ledger) and as a finance user. Run seed_ledger_scale first. Prints a table (the cpu "
        "column is this process's CPU time per request, which excludes PostgreSQL's work), then one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=20, help="Timed requests per URL and user.")
        parser.add_argument("--warmup", type=int, default=2, help="Untimed requests first.")
        parser.add_argument("--budget-ms", type=float, default=300.0, help="Median budget per request.")
        parser.add_argument("--user", action="append", default=[],
                            help="role=username to time instead of the defaults (repeatable).")

    def handle(self, *args, **options):
        if options["repeat"] < 1:
            raise CommandError("--repeat must be at least 1.")
        names = dict(DEFAULT_USERS, **dict(item.split("=", 1) for item in options["user"]))
        User = get_user_model()
        users = {role: User.objects.filter(username=name, is_active=True).first() for role, name in names.items()}
        missing = [names[role] for role, user in users.items() if user is None]
        if missing:
            raise CommandError(f"No user {', '.join(missing)}: run seed_ledger_scale first.")
        key = LedgerEntry.objects.order_by("-pk").values_list("passport__key", flat=True).first() or "none"
        unit = ModelPassport.objects.filter(key=key).values_list("business_unit__code", flat=True).first() or "none"
        results = []
        with override_settings(DEBUG=False, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            for role, user in users.items():
                client = Client()
                client.force_login(user)
                for name, template in TARGETS:
                    url = template.format(key=key, unit=unit)
                    row = measure(client, url, repeat=options["repeat"], warmup=options["warmup"])
                    row["verdict"] = "ok" if row.get("median_ms", 1e9) <= options["budget_ms"] else "over"
                    results.append({"user": role, "name": name, **row,
                                    "visible_passports": ledger_passports(user=user).count()})
        report = {"db": connection.vendor, "repeat": options["repeat"], "budget_median_ms": options["budget_ms"],
                  "passports": ModelPassport.objects.count(), "entries": LedgerEntry.objects.count(),
                  "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
                  "results": results}
        self._print(report)
        self.stdout.write(json.dumps(report, default=str))

    def _print(self, report):
        self.stdout.write(
            f"DB {report['db']}: {report['passports']} passports, {report['entries']} ledger entries; "
            f"{report['repeat']} timed requests each; budget median <= {report['budget_median_ms']:.0f} ms; "
            f"load average {report['load_average']} on {report['cpus']} CPUs")
        header = (f"{'user':<8} {'request':<32} {'status':>6} {'median':>9} {'p95':>9} {'cpu':>9} {'queries':>7}"
                  "  verdict")
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for row in report["results"]:
            self.stdout.write(f"{row['user']:<8} {row['name']:<32} {row['status']:>6} {row['median_ms']:>7.1f}ms "
                              f"{row['p95_ms']:>7.1f}ms {row['cpu_median_ms']:>7.1f}ms {row['queries']:>7}  "
                              f"{row['verdict']}")


def measure(client: Client, url: str, *, repeat: int, warmup: int) -> dict:
    """Wall and this process's CPU time of ``repeat`` GETs (after ``warmup``), and the queries of one of them.

    The cache is cleared before each request, outside the timing, so throttling never answers 429. CPU time
    leaves out the database server's work but barely moves when other processes load the machine.
    """
    for _ in range(warmup):
        cache.clear()
        client.get(url)
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    queries = len(captured.captured_queries)
    walls, cpus = [], []
    for _ in range(repeat):
        cache.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    walls.sort()
    return {"url": url, "status": response.status_code, "median_ms": round(statistics.median(walls), 1),
            "p95_ms": round(walls[math.ceil(0.95 * len(walls)) - 1], 1), "max_ms": round(walls[-1], 1),
            "cpu_median_ms": round(statistics.median(cpus), 1), "queries": queries,
            "bytes": len(response.content)}
