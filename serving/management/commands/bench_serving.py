"""Benchmark the serving control plane in a scratch database (made and dropped like the test runner's).

1. **Monitoring ingest**: ``--hosts`` simulated hosts (default 100), enrolled through the service and authenticated
   with their own tokens, each deliver one monitoring window per round through the agents' API (the real view,
   serializer, ingest, hourly sums and alert checks, through Django's test client), from ``--processes`` forked
   processes side by side (default 2, like two web workers; one database connection each). Reported: windows
   stored per second and the per-request latency, against the load of every host posting every 5 s (hosts / 5
   windows per second).
2. **Monitoring tab**: ``--days`` (default 30) of 60-second windows from two hosts are written in bulk; then the
   passport's monitoring tab and the deployment page are rendered ``--repeat`` times each (range 30 days, logged
   in as the engineer), and the medians are reported (budget: 300 ms).

The passport's version is approved by writing its state directly: the workflow is not what is measured here.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import connection, connections
from django.test import Client
from django.utils import timezone


class Command(BaseCommand):
    help = "Benchmark monitoring ingest (simulated hosts) and the monitoring tab, in a scratch database."

    def add_arguments(self, parser):
        parser.add_argument("--hosts", type=int, default=100)
        parser.add_argument("--rounds", type=int, default=10)
        parser.add_argument("--processes", type=int, default=2, help="web processes posting side by side")
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--repeat", type=int, default=10)

    def handle(self, *args, **options):
        from django.conf import settings

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "agent": "1000000/min"}}
        from rest_framework.settings import api_settings

        api_settings.reload()
        creation = connection.creation
        original = connection.settings_dict["NAME"]
        scratch = None
        if connection.vendor == "sqlite":  # a file, not the test runner's in-memory database: the forks share it
            scratch = tempfile.mkdtemp(prefix="bench-serving-")
            connection.settings_dict.setdefault("TEST", {})["NAME"] = os.path.join(scratch, "bench.sqlite3")
        name = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
        try:
            world = self._world(options["hosts"])
            self._ingest(world, options["rounds"], options["processes"])
            self._tab(world, options["days"], options["repeat"])
        finally:
            connection.close()
            creation.destroy_test_db(original, verbosity=0, keepdb=False)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            self.stdout.write(f"scratch database {name} dropped")

    # ------------------------------------------------------------------ the world

    def _world(self, hosts: int):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from governance.demo.onnx_models import build_demo_model
        from registry import services as registry_services
        from registry.models import ModelVersion
        from serving import services
        from serving.management.commands._bench import bench_passport

        admin, engineer, passport = bench_passport("bench-credit", "Bench credit")
        model = build_demo_model("credit-scoring", n_rows=1000)
        version = registry_services.version_register(
            actor=engineer, passport=passport, feature_names=model.feature_names,
            upload=SimpleUploadedFile("model.onnx", model.onnx_bytes, "application/octet-stream"))
        ModelVersion.objects.filter(pk=version.pk).update(state="approved",
                                                          approval_expires_at=timezone.now() + timedelta(days=365))
        version.refresh_from_db()
        tokens, host_rows = [], []
        for i in range(hosts):
            _token, secret = services.enrolment_token_create(actor=admin, name=f"bench {i}")
            host, host_token = services.host_enrol(enrolment_token=secret, name=f"bench-host-{i:03d}", facts={})
            tokens.append(host_token)
            host_rows.append(host)
        deployment = services.deployment_create(actor=engineer, passport=passport, version=version.number,
                                                hosts=[h.pk for h in host_rows], environment="staging")
        features = model.feature_names
        self.stdout.write(f"{connection.vendor}: {hosts} hosts enrolled, one deployment of {len(features)} features")
        return {"engineer": engineer, "passport": passport, "version": version, "deployment": deployment,
                "tokens": tokens, "hosts": host_rows, "features": features}

    @staticmethod
    def _window(world, sequence: int, start) -> dict:
        return {"deployment": world["deployment"].pk, "version": world["version"].number, "sequence": sequence,
                "started_at": start.isoformat(), "ended_at": (start + timedelta(seconds=5)).isoformat(),
                "requests": 500, "predictions": 500, "errors": {"invalid_request": 1}, "latency_p50_ms": 1.1,
                "latency_p95_ms": 2.9, "latency_p99_ms": 5.5,
                "psi": {name: 0.01 + 0.001 * i for i, name in enumerate(world["features"])}, "score_psi": 0.02}

    # ------------------------------------------------------------------ 1. ingest

    def _ingest(self, world, rounds: int, processes: int) -> None:
        from serving.models import MonitoringWindow

        tokens = world["tokens"]
        start = timezone.now() - timedelta(hours=2)
        context = multiprocessing.get_context("fork")
        results = context.Queue()

        def worker(offset: int) -> None:
            connection.close()  # never share the parent's socket: each process opens its own connection
            client = Client()
            mine = []
            for r in range(rounds):
                for h in range(offset, len(tokens), processes):
                    body = {"windows": [self._window(world, r, start + timedelta(seconds=5 * r))]}
                    began = time.perf_counter()
                    response = client.post("/api/v1/agent/windows/", body, content_type="application/json",
                                           HTTP_AUTHORIZATION=f"Bearer {tokens[h]}")
                    mine.append(time.perf_counter() - began)
                    if response.status_code != 200:
                        mine.append(-1.0)
                        break
            connection.close()
            results.put(mine)

        connections.close_all()
        pool = [context.Process(target=worker, args=(i,)) for i in range(processes)]
        began = time.perf_counter()
        for process in pool:
            process.start()
        latencies = []
        for _ in pool:
            latencies.extend(results.get())
        for process in pool:
            process.join()
        elapsed = time.perf_counter() - began
        if any(t < 0 for t in latencies):
            raise SystemExit("an ingest request failed")
        stored = MonitoringWindow.objects.count()
        expected = rounds * len(tokens)
        if stored != expected:
            raise SystemExit(f"stored {stored} windows, expected {expected}")
        latencies.sort()
        needed = len(tokens) / 5
        rate = stored / elapsed
        self.stdout.write(
            f"ingest: {stored} windows from {len(tokens)} hosts in {elapsed:.2f} s from {processes} processes: "
            f"{rate:,.0f} windows/s stored ({rate / needed:,.1f}x the {needed:g}/s of every host posting every 5 s); "
            f"per request median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms")
        # the same windows again: every one a duplicate, nothing stored twice
        client = Client()
        again = client.post("/api/v1/agent/windows/", {"windows": [self._window(world, 0, start)]},
                            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {tokens[0]}").json()
        if again["stored"] != 0 or MonitoringWindow.objects.count() != expected:
            raise SystemExit(f"a window delivered twice was stored twice: {again}")

    # ------------------------------------------------------------------ 2. the monitoring tab

    @staticmethod
    def _store(windows) -> None:
        """One host's windows in bulk, with the hourly sums the ingest would have kept for them (``hours_add``)."""
        from serving.models import MonitoringHour, MonitoringWindow
        from serving.services import hour_of, hours_add

        if not windows:
            return
        MonitoringWindow.objects.bulk_create(windows)
        hours = {}
        for w in windows:
            key = (w.deployment_id, hour_of(w.started_at))
            if key not in hours:
                hours[key] = MonitoringHour.objects.filter(deployment_id=w.deployment_id, host=w.host,
                                                           hour=key[1]).first() or MonitoringHour(
                    deployment_id=w.deployment_id, host=w.host, passport_id=w.passport_id, hour=key[1])
        hours_add(hours, windows)
        for hour in hours.values():
            hour.save()

    def _tab(self, world, days: int, repeat: int) -> None:
        from serving.models import MonitoringWindow

        deployment, version = world["deployment"], world["version"]
        now = timezone.now().replace(second=0, microsecond=0)
        per_host = days * 24 * 60
        began = time.perf_counter()
        for host in world["hosts"][:2]:
            batch = []
            for i in range(per_host):
                start = now - timedelta(minutes=per_host - i)
                batch.append(MonitoringWindow(
                    host=host, deployment=deployment, passport_id=deployment.passport_id, version=version,
                    sequence=1_000_000 + i, started_at=start, ended_at=start + timedelta(minutes=1),
                    requests=600 + i % 120, predictions=600 + i % 120, errors={"invalid_request": i % 4},
                    error_count=i % 4, latency_p50_ms=1.0 + (i % 7) * 0.1, latency_p95_ms=3.0 + (i % 11) * 0.2,
                    latency_p99_ms=6.0 + (i % 13) * 0.3,
                    psi=dict.fromkeys(world["features"], 0.01 + i % 50 / 1000),
                    max_feature_psi=0.01 + (i % 50) / 1000, score_psi=0.02))
                if len(batch) == 5000:
                    self._store(batch)
                    batch = []
            self._store(batch)
        total = MonitoringWindow.objects.filter(deployment=deployment).count()
        self.stdout.write(f"monitoring tab: {total:,} windows ({days} days of 60-s windows from 2 hosts, plus the "
                          f"ingest's) written in {time.perf_counter() - began:.1f} s")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {MonitoringWindow._meta.db_table}")
        client = Client()
        client.force_login(world["engineer"])
        pages = {"passport monitoring tab": f"/serving/passports/{world['passport'].key}/monitoring/?range=30d",
                 "deployment page": f"/serving/deployments/{deployment.pk}/?range=30d"}
        timings = {label: [] for label in pages}
        for _ in range(repeat):
            for label, url in pages.items():
                began = time.perf_counter()
                response = client.get(url)
                timings[label].append(time.perf_counter() - began)
                if response.status_code != 200 or b"chart-traffic" not in response.content:
                    raise SystemExit(f"{label}: {response.status_code}")
        for label, values in timings.items():
            self.stdout.write(f"{label}, 30 days: median {statistics.median(values) * 1000:.0f} ms of {repeat} "
                              f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}); budget 300 ms")
