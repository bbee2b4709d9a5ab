"""Time the list pages and list endpoints in-process, as an all-seeing auditor and as a team developer."""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import Resolver404, resolve

from governance.audit.models import AuditEvent
from registry.models import ModelPassport, ModelVersion
from registry.permissions import restrict_passports

TARGETS = (
    ("passport list page", "/passports/"),
    ("passport list page, q + tier", "/passports/?q={q}&tier={tier}"),
    ("API passports", "/api/v1/passports/"),
    ("API versions of a passport", "/api/v1/passports/{key}/versions/"),
    ("API audit events", "/api/v1/audit-events/"),
)
DEFAULT_USERS = {"auditor": ("scale-auditor", "auditor"), "developer": ("scale-dev-000", "developer")}


class Command(BaseCommand):
    help = (
        "Measure median and p95 time and the query count of the passport list page (plain, and with a search "
        "and a tier filter), GET /api/v1/passports/, /api/v1/passports/{key}/versions/ and /api/v1/audit-events/, "
        "in-process with django.test.Client (DEBUG off, no network, the database connection kept open), logged in "
        "as an auditor (sees everything) and as a developer (sees their team's passports). The versions URL uses "
        "the visible passport with the most versions. Prints a table, then one JSON line. A URL that is not "
        "routed is reported as missing. The cpu column is this process's median CPU time per request: it excludes "
        "the PostgreSQL server's work but barely moves when other processes load the machine; the load average is "
        "printed because wall times do."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=30, help="Timed requests per URL and user.")
        parser.add_argument("--warmup", type=int, default=2, help="Untimed requests first.")
        parser.add_argument("--auditor", help="Username of the all-seeing user (default: scale-auditor, auditor).")
        parser.add_argument("--developer", help="Username of the team developer (default: scale-dev-000, developer).")
        parser.add_argument("--q", default="credit", help="Search text for the filtered list page.")
        parser.add_argument("--tier", default="1", help="Tier for the filtered list page.")
        parser.add_argument("--budget-ms", type=float, default=150.0, help="p95 budget per request.")
        parser.add_argument("--sql", action="store_true", help="Also print each URL's three slowest queries.")

    def handle(self, *args, **options):
        if options["repeat"] < 1:
            raise CommandError("--repeat must be at least 1.")
        users = {role: _user(options[role], DEFAULT_USERS[role]) for role in DEFAULT_USERS}
        results = []
        with override_settings(DEBUG=False, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            for role, user in users.items():
                client = Client()
                client.force_login(user)
                key = _busiest_passport(user)
                for name, template in TARGETS:
                    url = template.format(key=key, q=options["q"], tier=options["tier"])
                    result = measure(client, url, repeat=options["repeat"], warmup=options["warmup"])
                    results.append({"user": role, "username": user.get_username(), "name": name, **result})
        report = self._report(results, users, options)
        self._print_table(report, options)
        self.stdout.write(json.dumps(report, default=str))

    def _report(self, results, users, options) -> dict:
        budget = options["budget_ms"]
        for row in results:
            if row["status"] == "missing":
                row["verdict"] = "missing"
            else:
                row["verdict"] = "ok" if row["p95_ms"] <= budget else "over"
        return {
            "db": connection.vendor, "repeat": options["repeat"], "budget_p95_ms": budget,
            "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
            "passports": ModelPassport.objects.count(), "versions": ModelVersion.objects.count(),
            "audit_events": AuditEvent.objects.count(),
            "visible_passports": {role: restrict_passports(ModelPassport.objects.all(), user).count()
                                  for role, user in users.items()},
            "results": results,
        }

    def _print_table(self, report, options):
        self.stdout.write(
            f"DB {report['db']}: {report['passports']} passports, {report['versions']} versions, "
            f"{report['audit_events']} audit events; visible {report['visible_passports']}; "
            f"{report['repeat']} timed requests each; budget p95 <= {report['budget_p95_ms']:.0f} ms; "
            f"load average {report['load_average']} on {report['cpus']} CPUs"
        )
        header = (f"{'user':<10} {'request':<52} {'status':>7} {'median':>8} {'p95':>8} {'cpu':>8} {'queries':>7}"
                  "  verdict")
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for row in report["results"]:
            if row["status"] == "missing":
                self.stdout.write(f"{row['user']:<10} {row['url'][:52]:<52} {'MISSING (not routed)':>42}")
                continue
            self.stdout.write(
                f"{row['user']:<10} {row['url'][:52]:<52} {row['status']:>7} {row['median_ms']:>6.1f}ms "
                f"{row['p95_ms']:>6.1f}ms {row['cpu_median_ms']:>6.1f}ms {row['queries']:>7}  {row['verdict']}"
            )
            if options["sql"]:
                for query in row["slowest_queries"]:
                    self.stdout.write(f"{'':<12}{query['ms']:>7.1f} ms  {query['sql'][:300]}")


def measure(client: Client, url: str, *, repeat: int, warmup: int) -> dict:
    """Time ``repeat`` GETs of ``url`` (after ``warmup``) and count the queries of one of them.

    The cache is cleared before each request (outside the timing) so that API throttling never answers 429.
    """
    try:
        resolve(urlsplit(url).path)
    except Resolver404:
        return {"url": url, "status": "missing"}
    for _ in range(warmup):
        cache.clear()
        client.get(url)
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    queries = list(captured.captured_queries)  # read now: the next request's request_started resets the log
    timings, cpu = [], []
    for _ in range(repeat):
        cache.clear()
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    timings.sort()
    slowest = sorted(queries, key=lambda q: float(q["time"]), reverse=True)[:3]
    return {
        "url": url, "status": response.status_code, "median_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[math.ceil(0.95 * len(timings)) - 1], 2), "max_ms": round(timings[-1], 2),
        "cpu_median_ms": round(statistics.median(cpu), 2),
        "queries": len(queries), "bytes": len(response.content), "count": _count(response),
        "slowest_queries": [{"ms": round(float(q["time"]) * 1000, 2), "sql": q["sql"]} for q in slowest],
    }


def _count(response) -> int | None:
    if "json" not in response.get("Content-Type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("count") if isinstance(body, dict) else None


def _user(username: str | None, defaults: tuple[str, ...]):
    User = get_user_model()
    for candidate in (username,) if username else defaults:
        user = User.objects.filter(username=candidate, is_active=True).first()
        if user is not None:
            return user
    raise CommandError(f"No user {username or ' or '.join(defaults)}: run seed_scale or seed_demo first, "
                       "or name one with --auditor/--developer.")


def _busiest_passport(user) -> str:
    """The key of the passport with the most versions among those ``user`` sees ('none' if none)."""
    visible = restrict_passports(ModelPassport.objects.all(), user)
    key = visible.annotate(n=Count("versions")).order_by("-n", "key").values_list("key", flat=True).first()
    return key or "none"
