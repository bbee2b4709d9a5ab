"""Webhooks: signed in the Standard Webhooks format (a receiver verifies with the standardwebhooks library), sent
after commit and never for a change that rolled back, retried with exponential backoff by a real Celery worker,
redelivered by hand with the same message id; loopback, private, link-local and metadata destinations refused when
saved and again at delivery (DNS rebinding); and the pages and endpoints keep their doors."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.urls import reverse
from standardwebhooks import Webhook, WebhookVerificationError

from core.errors import DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from governance.webhooks import destinations, services
from governance.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscriber
from registry import services as registry_services
from tests.api_helpers import Endpoint, assert_error, bearer_client, check_endpoint
from tests.factories import linear_onnx, onnx_upload
from tests.ui.test_page_matrix import Page, check_pages

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each request with the next status of ``statuses`` (then 200) and
    keeps what it got."""

    def __init__(self, statuses=()):
        self.statuses = queue.Queue()
        for status in statuses:
            self.statuses.put(status)
        self.got: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 200 if receiver.statuses.empty() else receiver.statuses.get()
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/governance"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.MG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the operator allows the local receiver by name
    settings.MG_WEBHOOK_RETRY_BASE_SECONDS = 0.05
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _register(passport, developer, seed=1):
    return registry_services.version_register(actor=developer, passport=passport,
                                              upload=onnx_upload(linear_onnx(seed=seed)))


def _attempt_until_done(delivery, limit=10):
    for _ in range(limit):
        delivery = services.delivery_attempt(delivery.pk)
        if delivery.status != DeliveryStatus.PENDING:
            return delivery
        time.sleep(max(0.0, (delivery.next_attempt_at.timestamp() - time.time())) + 0.01)
    return delivery


def test_an_event_reaches_the_receiver_signed_after_commit(admin_user, passport, developer, receiver,
                                                           django_capture_on_commit_callbacks):
    r = receiver()
    subscriber = services.subscriber_create(actor=admin_user, name="CI", url=r.url, events=["version"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        version = _register(passport, developer)
    delivery = WebhookDelivery.objects.get(subscriber=subscriber)
    assert callbacks, "sent after commit"
    assert r.got == []  # nothing leaves inside the transaction
    delivery = services.delivery_attempt(delivery.pk)
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    (headers, body), = r.got
    payload = Webhook(subscriber.secret).verify(body, headers)  # the Standard Webhooks library's own check
    event = AuditEvent.objects.get(seq=delivery.audit_seq)
    assert payload["type"] == "version.registered" == event.action
    assert payload["data"]["event"]["seq"] == event.seq and payload["data"]["event"]["hash"] == event.hash
    assert payload["data"]["event"]["passport"] == passport.key
    assert payload["data"]["event"]["object"]["id"] == str(version.pk)
    assert headers["webhook-id"] == delivery.message_id
    with pytest.raises(WebhookVerificationError):
        Webhook(services.new_secret()).verify(body, headers)  # another secret does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(subscriber.secret).verify(body.replace(b"version.registered", b"version.approved"), headers)


def test_a_change_that_rolls_back_sends_nothing(admin_user, passport, developer, receiver,
                                                django_capture_on_commit_callbacks):
    r = receiver()
    services.subscriber_create(actor=admin_user, name="CI", url=r.url, events=["*"])
    with (django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(RuntimeError),
          transaction.atomic()):
        _register(passport, developer)
        raise RuntimeError("the change fails after its audit event")
    assert WebhookDelivery.objects.count() == 0 and callbacks == [] and r.got == []


def test_only_the_wanted_families_are_sent_and_a_paused_subscriber_gets_nothing(admin_user, passport, developer,
                                                                                receiver):
    r = receiver()
    wants_findings = services.subscriber_create(actor=admin_user, name="Findings", url=r.url, events=["finding"])
    paused = services.subscriber_create(actor=admin_user, name="Paused", url=r.url, events=["*"])
    services.subscriber_update(actor=admin_user, subscriber=paused, active=False)
    _register(passport, developer)
    assert not WebhookDelivery.objects.filter(subscriber__in=[wants_findings, paused]).exists()


def test_a_failing_receiver_is_retried_with_growing_pauses(admin_user, passport, developer, receiver, settings):
    r = receiver(statuses=[500, 503, 200])
    subscriber = services.subscriber_create(actor=admin_user, name="Flaky", url=r.url, events=["version"])
    _register(passport, developer)
    delivery = _attempt_until_done(WebhookDelivery.objects.get(subscriber=subscriber))
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3
    log = list(delivery.attempt_log.order_by("number"))
    assert [a.status_code for a in log] == [500, 503, 200]
    assert log[1].at - log[0].at >= timedelta(seconds=services.backoff(1))  # each retry waited its pause
    assert log[2].at - log[1].at >= timedelta(seconds=services.backoff(2))
    assert len({h["webhook-id"] for h, _b in r.got}) == 1  # one message, retried: the receiver can deduplicate
    settings.MG_WEBHOOK_RETRY_BASE_SECONDS = 30
    assert [services.backoff(n) for n in (1, 2, 3, 4)] == [30, 90, 270, 810]


def test_a_receiver_that_never_answers_2xx_ends_failed_and_can_be_redelivered(admin_user, passport, developer,
                                                                              receiver, settings):
    settings.MG_WEBHOOK_MAX_ATTEMPTS = 3
    r = receiver(statuses=[500, 302, 404])
    subscriber = services.subscriber_create(actor=admin_user, name="Down", url=r.url, events=["version"])
    _register(passport, developer)
    delivery = _attempt_until_done(WebhookDelivery.objects.get(subscriber=subscriber))
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    assert delivery.attempt_log.get(number=2).status_code == 302  # a redirect is not followed: a failed attempt
    with pytest.raises(PermissionDenied):
        services.delivery_redeliver(actor=developer, delivery=delivery)
    again = services.delivery_redeliver(actor=admin_user, delivery=delivery)
    assert again.status == DeliveryStatus.SUCCEEDED and again.attempt_log.get(number=4).manual
    assert r.got[-1][0]["webhook-id"] == r.got[0][0]["webhook-id"]


def test_after_a_rotation_both_secrets_verify_for_a_day(admin_user, passport, developer, receiver):
    r = receiver()
    subscriber = services.subscriber_create(actor=admin_user, name="CI", url=r.url, events=["version"])
    old = subscriber.secret
    rotated = services.subscriber_rotate_secret(actor=admin_user, subscriber=subscriber)
    _register(passport, developer)
    services.delivery_attempt(WebhookDelivery.objects.get(subscriber=subscriber).pk)
    (headers, body), = r.got
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(rotated.secret).verify(body, headers)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook", "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook",
    "https://192.168.0.10/hook", "https://172.16.5.4/hook", "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook", "https://[fd00::1]/hook", "https://100.64.0.1/hook",
    "https://0.0.0.0/hook", "https://224.0.0.1/hook", "http://93.184.215.14/hook",
    "https://user:pass@93.184.215.14/hook", "ftp://93.184.215.14/hook",
])
def test_internal_destinations_are_refused_when_saved(admin_user, url):
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        services.subscriber_create(actor=admin_user, name="x", url=url, events=["*"])
    assert caught.value.code == "destination_not_allowed"
    assert (WebhookSubscriber.objects.count(), AuditEvent.objects.count()) == (0, events)


def test_a_name_that_turns_internal_after_saving_is_refused_at_delivery(admin_user, passport, developer,
                                                                        monkeypatch, receiver):
    r = receiver()
    answers = {"hooks.example.test": "93.184.215.14"}
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):  # DNS, the part that would leave the machine
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(destinations.socket, "getaddrinfo", resolver)
    subscriber = services.subscriber_create(actor=admin_user, name="Rebind", url="https://hooks.example.test/h",
                                            events=["version"])
    answers["hooks.example.test"] = "127.0.0.1"  # rebinding: now it points inside
    _register(passport, developer)
    delivery = services.delivery_attempt(WebhookDelivery.objects.get(subscriber=subscriber).pk)
    assert delivery.status == DeliveryStatus.REFUSED and delivery.attempts == 1
    assert "127.0.0.1" in delivery.last_error and delivery.last_status_code is None
    assert r.got == []


def test_the_request_goes_to_the_checked_address(settings, receiver, monkeypatch):
    r = receiver()
    port = r.server.server_address[1]
    settings.MG_WEBHOOK_ALLOWED_HOSTS = ["hooks.internal.test"]
    monkeypatch.setattr(destinations.socket, "getaddrinfo", lambda host, p, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p))])
    destination = destinations.resolve(f"http://hooks.internal.test:{port}/in")
    assert destination.address == "127.0.0.1"
    outcome = destinations.post(destination, b"{}", {"content-type": "application/json"})
    assert outcome.ok and r.got[0][0]["host"] == f"hooks.internal.test:{port}"


def test_people_other_than_administrators_cannot_manage(auditor, developer, admin_user):
    for person in (auditor, developer):
        with pytest.raises(PermissionDenied):
            services.subscriber_create(actor=person, name="x", url="https://93.184.215.14/h", events=["*"])
    with pytest.raises(DomainError) as caught:
        services.subscriber_create(actor=admin_user, name="x", url="https://93.184.215.14/h", events=["nope"])
    assert caught.value.code == "invalid" and caught.value.field == "events"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_delivers_after_commit_and_retries(admin_user, passport, developer, receiver, settings):
    from tests.workers import in_process_worker

    settings.MG_WEBHOOK_QUEUE = f"webhooks-test-{uuid.uuid4().hex[:12]}"  # this test's worker alone takes them
    r = receiver(statuses=[500])
    subscriber = services.subscriber_create(actor=admin_user, name="Worker", url=r.url, events=["version"])
    with in_process_worker(settings.MG_WEBHOOK_QUEUE):
        _register(passport, developer)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            delivery = WebhookDelivery.objects.filter(subscriber=subscriber).first()
            if delivery is not None and delivery.status != DeliveryStatus.PENDING:
                break
            time.sleep(0.2)
    assert delivery.status == DeliveryStatus.SUCCEEDED, (delivery.status, delivery.last_error)
    assert [a.status_code for a in delivery.attempt_log.order_by("number")] == [500, 200]
    Webhook(subscriber.secret).verify(r.got[-1][1], r.got[-1][0])


# --------------------------------------------------------------------------- the doors

API_ENDPOINTS = [
    Endpoint("GET", "/webhooks/subscribers/", "auditor", 200, (("developer", 200),)),  # merely empty
    Endpoint("GET", "/webhooks/subscribers/{w.subscriber}/", "auditor", 200, (("developer", 404),)),
    Endpoint("POST", "/webhooks/subscribers/", "admin", 201, (("auditor", 403), ("developer", 403)),
             body=lambda w: {"name": "SIEM", "url": "https://93.184.215.14/siem", "events": ["alert"]}),
    Endpoint("PATCH", "/webhooks/subscribers/{w.subscriber}/", "admin", 200, (("auditor", 403), ("developer", 404)),
             body=lambda w: {"active": False}),
    Endpoint("POST", "/webhooks/subscribers/{w.subscriber}/rotate-secret/", "admin", 200,
             (("auditor", 403), ("developer", 404))),
    Endpoint("POST", "/webhooks/subscribers/{w.subscriber}/test/", "admin", 202,
             (("auditor", 403), ("developer", 404))),
    Endpoint("GET", "/webhooks/deliveries/", "auditor", 200, (("developer", 200),)),
    Endpoint("GET", "/webhooks/deliveries/{w.delivery}/", "auditor", 200, (("developer", 404),)),
    Endpoint("POST", "/webhooks/deliveries/{w.delivery}/redeliver/", "admin", 200,
             (("auditor", 403), ("developer", 404))),
]


@pytest.fixture
def doors(admin_user, auditor, developer, receiver, django_capture_on_commit_callbacks):
    r = receiver()
    subscriber = services.subscriber_create(actor=admin_user, name="Receiver", url=r.url, events=["*"])
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.subscriber_test(actor=admin_user, subscriber=subscriber)
    return SimpleNamespace(subscriber=subscriber.pk, delivery=delivery.pk, receiver=r,
                           users={"admin": admin_user, "auditor": auditor, "developer": developer})


def test_the_webhook_api_keeps_its_doors(doors, django_capture_on_commit_callbacks):
    failures = {}
    for endpoint in API_ENDPOINTS:
        try:
            with django_capture_on_commit_callbacks(execute=False):
                check_endpoint(endpoint, doors, doors.users)
        except AssertionError as exc:
            failures[str(endpoint)] = str(exc)[:300]
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_bad_input_gets_a_clear_400_and_changes_nothing(doors, admin_user):
    api = bearer_client(admin_user)
    before = (WebhookSubscriber.objects.count(), AuditEvent.objects.count())
    for body, field in (({"name": "x", "url": "not a url", "events": ["*"]}, "url"),
                        ({"name": "x", "url": "https://93.184.215.14/", "events": ["everything"]}, "events"),
                        ({"name": "x", "url": "https://93.184.215.14/", "events": []}, "events"),
                        ({"name": "", "url": "https://93.184.215.14/", "events": ["*"]}, "name"),
                        ({"name": "x", "url": "https://10.0.0.1/", "events": ["*"]}, "url")):
        error = assert_error(api.post("/api/v1/webhooks/subscribers/", body, format="json"), 400)
        assert error["field"] == field or field in (error["details"] or {}), error
    assert_error(api.get("/api/v1/webhooks/deliveries/?status=lost"), 400)
    assert_error(api.get("/api/v1/webhooks/deliveries/?subscriber=abc"), 400)
    assert (WebhookSubscriber.objects.count(), AuditEvent.objects.count()) == before


def test_the_delivery_log_shows_each_attempt(doors, admin_user):
    delivery = services.delivery_attempt(doors.delivery)
    body = bearer_client(admin_user).get(f"/api/v1/webhooks/deliveries/{delivery.pk}/").json()
    assert body["status"] == "succeeded" and body["attempt_log"][0]["status_code"] == 200
    assert body["attempt_log"][0]["response_ms"] >= 0
    assert json.loads(body["body"])["type"] == "webhook.test"


PAGES = [
    Page("governance:webhook_list", lambda w: [], "auditor", 200, (("developer", 403),)),
    Page("governance:webhook_detail", lambda w: [w.subscriber], "auditor", 200, (("developer", 403),)),
    Page("governance:webhook_list", lambda w: [], "admin", 200, (("auditor", 403), ("developer", 403)), "POST",
         lambda w: {"name": "SIEM", "url": "https://93.184.215.14/siem", "events": ["alert"]}),
    Page("governance:webhook_toggle", lambda w: [w.subscriber], "admin", 302,
         (("auditor", 403), ("developer", 403)), "POST", lambda w: {"active": "0"}),
    Page("governance:webhook_test", lambda w: [w.subscriber], "admin", 302,
         (("auditor", 403), ("developer", 403)), "POST"),
    Page("governance:webhook_rotate", lambda w: [w.subscriber], "admin", 302,
         (("auditor", 403), ("developer", 403)), "POST"),
    Page("governance:webhook_redeliver", lambda w: [w.subscriber, w.delivery], "admin", 302,
         (("auditor", 403), ("developer", 403)), "POST"),
]


def test_the_webhook_pages_keep_their_doors(client, doors, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        check_pages(client, PAGES, doors)


def test_the_pages_show_the_secret_once_and_the_log(client, doors, admin_user):
    client.force_login(admin_user)
    page = client.post(reverse("governance:webhook_list"),
                       {"name": "SIEM", "url": "https://93.184.215.14/siem", "events": ["alert"]})
    created = WebhookSubscriber.objects.get(name="SIEM")
    assert created.secret in page.content.decode()
    assert created.secret not in client.get(reverse("governance:webhook_list")).content.decode()
    refused = client.post(reverse("governance:webhook_list"),
                          {"name": "Inside", "url": "https://169.254.169.254/", "events": ["*"]}).content.decode()
    assert "169.254.169.254" in refused and not WebhookSubscriber.objects.filter(name="Inside").exists()
    services.delivery_attempt(doors.delivery)
    detail = client.get(reverse("governance:webhook_detail", args=[doors.subscriber])).content.decode()
    assert "webhook.test" in detail and "HTTP 200" in detail
