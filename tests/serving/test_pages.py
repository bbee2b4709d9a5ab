"""The serving pages' access matrix (rows named in tests/architecture/test_access_matrix.py like the other pages)
and what the pages show: hosts with their health, deployments, monitoring charts, incidents and their handling."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from serving import alerts, services
from serving.models import Deployment
from tests.serving.conftest import enrol
from tests.ui.test_page_matrix import OUT, Page, check_pages

pytestmark = pytest.mark.django_db


def key(w):
    return [w.key]


def dep(w):
    return [w.deployment]


PAGES = [
    Page("serving:overview", lambda w: [], "eng", 200, (("outsider", 200),)),
    Page("serving:host_enrol", lambda w: [], "admin", 200, (("eng", 403),)),
    Page("serving:passport_monitoring", key, "auditor", 200, OUT),
    Page("serving:deployment_new", key, "eng", 200, (*OUT, ("auditor", 403), ("risk", 403))),
    Page("serving:deployment_detail", dep, "auditor", 200, OUT),
    Page("serving:deployment_kserve", dep, "eng", 200, (*OUT, ("auditor", 403), ("risk", 403))),
    Page("serving:incident_detail", lambda w: [w.incident], "auditor", 200, OUT),
    # --- writes
    Page("serving:host_enrol", lambda w: [], "admin", 200, (("eng", 403),), "POST",
         lambda w: {"name": "rack 9", "ttl_hours": 24}),
    Page("serving:host_revoke", lambda w: [w.spare], "admin", 302, (("eng", 403),), "POST",
         lambda w: {"reason": "Decommissioned"}),
    Page("serving:deployment_new", key, "eng", 302, (*OUT, ("auditor", 403)), "POST",
         lambda w: {"version": 1, "environment": "staging", "hosts": [w.host], "strategy": "full"}),
    Page("serving:passport_monitoring", key, "risk", 302, (*OUT, ("auditor", 403)), "POST",
         lambda w: {"on_alert": "notify"}),
    Page("serving:incident_acknowledge", lambda w: [w.incident], "eng", 302, (*OUT, ("auditor", 403)), "POST",
         lambda w: {"note": "On it"}),
    Page("serving:incident_resolve", lambda w: [w.incident], "risk", 302, (*OUT, ("auditor", 403)), "POST",
         lambda w: {"resolution": "Replaced the host"}),
    Page("serving:deployment_challenger", dep, "eng", 302, (*OUT, ("auditor", 403)), "POST",
         lambda w: {"version": 2, "strategy": "canary", "canary_percent": 10}),
    Page("serving:deployment_promote", dep, "developer", 302, (*OUT, ("risk", 403)), "POST", lambda w: {}),
    Page("serving:deployment_rollback", dep, "risk", 302, (*OUT, ("auditor", 403)), "POST",
         lambda w: {"reason": "Score drift"}),
    Page("serving:deployment_stop", dep, "eng", 302, (*OUT, ("auditor", 403)), "POST",
         lambda w: {"reason": "Product closed"}),
]


def world(serving) -> SimpleNamespace:
    from tests.factories import UserFactory

    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_a.pk, serving.host_b.pk])
    spare, _token = enrol(serving.admin, "spare")
    alert = alerts.raise_alert(kind="host_lost", deployment=deployment, subject="gpu-a", message="gpu-a is silent")
    users = {"developer": serving.developer, "owner": serving.owner, "outsider": UserFactory(username="outsider"),
             "auditor": UserFactory(username="auditor", roles=["auditor"]), "risk": serving.cast.risk,
             "eng": serving.engineer, "admin": serving.admin}
    return SimpleNamespace(users=users, key=serving.passport.key, deployment=deployment.pk, spare=spare.pk,
                           host=serving.host_a.pk, incident=alert.incident_id, serving=serving)


def test_every_serving_page_keeps_its_doors(client, serving):
    w = world(serving)
    check_pages(client, PAGES, w)
    deployment = Deployment.objects.get(pk=w.deployment)
    assert deployment.status == "stopped" and deployment.version.number == 1  # promoted v2, rolled back, stopped


def test_the_deployment_page_shows_monitoring_and_the_passport_tab_links_it(client, serving):
    w = world(serving)
    deployment = Deployment.objects.get(pk=w.deployment)
    start = timezone.now() - timedelta(minutes=30)
    windows = [{"deployment": deployment.pk, "version": 1, "sequence": i,
                "started_at": start + timedelta(minutes=i), "ended_at": start + timedelta(minutes=i + 1),
                "requests": 100 + i, "predictions": 100 + i, "errors": {"invalid_request": i % 3},
                "latency_p50_ms": 1.0, "latency_p95_ms": 2.5, "latency_p99_ms": 4.0,
                "psi": {"x0": 0.01 * i, "x1": 0.02}, "score_psi": 0.03} for i in range(10)]
    services.windows_ingest(host=serving.host_a, windows=windows)
    client.force_login(serving.engineer)
    page = client.get(reverse("serving:deployment_detail", args=[deployment.pk])).content.decode()
    for chart in ("chart-traffic", "chart-latency", "chart-psi", "chart-features", "chart-errors"):
        assert f'id="{chart}"' in page, chart
    assert 'id="promote-button"' not in page and 'id="stop-button"' in page
    passport = client.get(reverse("registry:passport_detail", args=[w.key])).content.decode()
    assert reverse("serving:passport_monitoring", args=[w.key]) in passport and "v1 serving" not in passport
    version = client.get(reverse("registry:version_detail", args=[w.key, 1])).content.decode()
    assert 'id="version-deployed"' in version and "gpu-a" in version
    tab = client.get(reverse("serving:passport_monitoring", args=[w.key]) + "?range=1h")
    assert tab.status_code == 200 and b'id="kpi-requests"' in tab.content
    assert "1045" in tab.content.decode()  # 100 + ... + 109 requests in the hour


def test_a_refused_deployment_shows_why_on_the_form(client, serving):
    w = world(serving)
    client.force_login(serving.engineer)
    response = client.post(reverse("serving:deployment_new", args=[w.key]),
                           {"version": 2, "environment": "production", "hosts": [w.host], "strategy": "full"})
    assert response.status_code == 400
    assert "at least 2 hosts" in response.content.decode()


def test_the_deployment_page_lists_the_log_files_each_host_reported_and_how_to_check_them(client, serving):
    w = world(serving)
    deployment = Deployment.objects.get(pk=w.deployment)
    url = reverse("serving:deployment_detail", args=[deployment.pk])
    client.force_login(serving.engineer)
    page = client.get(url).content.decode()
    assert 'id="log-digests-empty"' in page and f"--deployment {deployment.pk} " in page
    now = timezone.now()
    for host, files in ((serving.host_a, 3), (serving.host_b, 1)):
        services.log_digests_record(host=host, digests=[
            {"deployment": deployment.pk, "name": f"{host.name}-{i}.plog.zst", "sha256": f"{i:064x}",
             "records": 1500, "first_at": now - timedelta(hours=files - i),
             "last_at": now - timedelta(hours=files - i - 1)}
            for i in range(files)])
    page = client.get(url).content.decode()
    table = page[page.index('id="log-digests"'):page.index("</table>", page.index('id="log-digests"'))]
    rows = table.split("<tr>")[2:]
    assert "gpu-a" in rows[0] and "gpu-b" in rows[1] and len(rows) == 2
    assert ">3<" in rows[0] and "4,500" in rows[0] and ">1<" in rows[1] and "1,500" in rows[1]
    assert reverse("serving-deployment-log-digests", args=[deployment.pk]) in page
    client.force_login(serving.admin)
    russian = client.get(url, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Журнал предсказаний" in russian


def test_the_passport_says_which_limits_and_thresholds_serving_reads(client, serving):
    """The passport's stop-limits may name any limit; serving hosts enforce the daily decisions alone, split between
    a deployment's hosts. The page says so, in both languages, rather than let a reader think every limit holds."""
    url = reverse("registry:passport_detail", args=[serving.passport.key])
    client.force_login(serving.admin)
    assert 'id="stop-limits-enforced"' not in client.get(url).content.decode()  # no limits, nothing to say
    serving.passport.stop_limits = {"max_decisions_per_day": 20000, "max_approved_exposure_eur_per_day": 25000000}
    serving.passport.save(update_fields=["stop_limits"])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Serving hosts enforce max_decisions_per_day by themselves, split between the hosts of each" in page
    russian = client.get(url, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Хосты обслуживания сами следят за max_decisions_per_day" in russian
    assert 'id="thresholds-served"' not in page
    serving.passport.monitoring_thresholds = {"psi": 0.25, "auc_min": 0.72}
    serving.passport.save(update_fields=["monitoring_thresholds"])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Serving alerts by psi, score_psi, latency_p95_ms, error_rate, min_window_requests" in page
    assert "Обслуживание поднимает тревоги по psi" in client.get(url, HTTP_ACCEPT_LANGUAGE="ru").content.decode()


def test_the_deployment_page_shows_each_hosts_share_of_the_stop_limit(client, serving):
    serving.passport.stop_limits = {"max_decisions_per_day": 5}
    serving.passport.save(update_fields=["stop_limits"])
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_b.pk, serving.host_a.pk])
    client.force_login(serving.admin)
    url = reverse("serving:deployment_detail", args=[deployment.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "5 decisions a day, split between the hosts: each stops at its share" in page
    first, second = sorted((serving.host_a, serving.host_b), key=lambda h: h.pk)  # as the hosts are told
    for host, share in ((first, 3), (second, 2)):
        row = page[page.index(f'data-host="{host.name}"'):]
        assert f"{share} decisions a day" in row[:row.index("</div>")]
    assert "5 решений в день, разделены между хостами" in client.get(url, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
