"""The serving pages in Debian's Chromium, in English and Russian at 1440 and 390 px: the overview, the passport's
monitoring tab with its charts, the deployment page and an incident; nothing overflows the window, the charts
render, the console stays clean. Screenshots go to var/screenshots/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.text import said
from serving import alerts, services
from tests.serving.conftest import serving  # noqa: F401  (fixture)
from tests.ui.test_browser_signoff import CHROMIUM, browser, open_as, settle, shoot_pages  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="needs chromium")]


def _traffic(w, deployment, minutes: int = 180):
    start = timezone.now() - timedelta(minutes=minutes)
    windows = []
    for i in range(minutes):
        drift = 0.02 + (0.3 * (i - 150) / 30 if i > 150 else 0.0)
        windows.append({"deployment": deployment.pk, "version": deployment.version.number, "sequence": i,
                        "started_at": start + timedelta(minutes=i), "ended_at": start + timedelta(minutes=i + 1),
                        "requests": 800 + (i * 37) % 200, "predictions": 800 + (i * 37) % 200,
                        "errors": {"invalid_request": (i * 7) % 5, "inference_failed": 1 if i % 40 == 0 else 0},
                        "latency_p50_ms": 1.2 + (i % 9) * 0.05, "latency_p95_ms": 3.1 + (i % 13) * 0.2,
                        "latency_p99_ms": 6.5 + (i % 17) * 0.4,
                        "psi": {"x0": round(drift, 4), "x1": 0.03, "x2": 0.015}, "score_psi": round(drift / 2, 4)})
    services.windows_ingest(host=w.host_a, windows=windows)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_serving_pages_read_well_in_both_languages_and_widths(live_server, browser, serving):  # noqa: F811
    w = serving
    w.passport.stop_limits = {"max_decisions_per_day": 250_001}
    w.passport.save(update_fields=["stop_limits"])
    deployment = services.deployment_create(actor=w.engineer, passport=w.passport, version=1,
                                            hosts=[w.host_a.pk, w.host_b.pk], personal_data_columns=["x1"])
    services.host_heartbeat(host=w.host_a, facts={"agent_version": "1.0.0"}, status={})
    services.host_heartbeat(host=w.host_b, facts={"agent_version": "1.0.0"}, status={"problems": [
        {"kind": "log_disk_low", "message": "180 MB free for the prediction log in /var/lib/model-governance/agent, "
         "under the floor of 256 MB", "args": {"free_mb": "180", "floor_mb": "256",
                                               "path": "/var/lib/model-governance/agent"}}]})
    _traffic(w, deployment)
    now = timezone.now()
    for host, hours in ((w.host_a, 3), (w.host_b, 2)):
        services.log_digests_record(host=host, digests=[
            {"deployment": deployment.pk, "name": f"20261203T{h:02d}0000-000000-4121.plog.zst",
             "sha256": f"{h:064x}", "records": 48_000 + 1_377 * h, "first_at": now - timedelta(hours=hours - h),
             "last_at": now - timedelta(hours=hours - h - 1)} for h in range(hours)])
    alert = alerts.raise_alert(kind="feature_psi", deployment=deployment, version=w.v1, subject="x0", value=0.31,
                               threshold=0.2, message=said("%(label)s: PSI of '%(feature)s' is %(value)s, above "
                                                           "%(limit)s.", label=f"{w.passport.key} v1 (champion, gpu-a)",
                                                           feature="x0", value="0.310", limit="0.2"))
    pages = {
        "overview": "/serving/",
        "monitoring": f"/serving/passports/{w.passport.key}/monitoring/",
        "deployment": f"/serving/deployments/{deployment.pk}/",
        "incident": f"/serving/incidents/{alert.incident_id}/",
        "deploy": f"/serving/passports/{w.passport.key}/deploy/",
    }
    page = open_as(browser, live_server, w.engineer.username, "/serving/")

    def charts(name):
        if name in ("monitoring", "deployment"):
            assert page.locator(".chart .main-svg").count() >= 4, (name, page.console_errors)
        if name == "deployment":  # the log's table fits its card, at 390 px too: no scrolling inside it
            box = page.locator("#log-digests").evaluate(
                "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
            assert box[0] <= box[1], box

    shoot_pages(page, live_server, pages, "serving", charts)
    assert "Обслуживание и мониторинг" in page.goto(f"{live_server.url}{pages['monitoring']}").text()
    settle(page)
    legend = page.evaluate("[...document.querySelectorAll('.legendtext')].map(e => e.textContent)")
    assert "Неверные входные данные" in legend and "Сбой вывода" in legend, legend
    page.goto(f"{live_server.url}{pages['overview']}")
    assert "свободно 180 МБ, меньше порога в 256 МБ" in page.locator("main").inner_text()
    page.goto(f"{live_server.url}{pages['incident']}")
    incident = page.locator("main").inner_text()
    assert "PSI признака «x0» равен 0.310, выше 0.2." in incident
    assert "Политика обслуживания" in incident and "serving policy" not in incident
    assert "Откат не выполнен: Нет более ранней" in incident  # the rule's own message, in Russian too
    assert page.console_errors == []
