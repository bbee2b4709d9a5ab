"""The webhook pages in Debian's Chromium, in English and Russian at 1440 and 390 px: the subscriber list with its
form and the delivery log with retried, failed and delivered messages; nothing overflows the window, the console
stays clean. Screenshots go to var/screenshots/."""

from __future__ import annotations

import pytest

from governance.webhooks import services
from governance.webhooks.models import WebhookDelivery
from tests.governance.test_webhooks import Receiver, _attempt_until_done, _register
from tests.ui.test_browser_signoff import CHROMIUM, browser, open_as, shoot_pages  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="needs chromium")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_webhook_pages_read_well_in_both_languages_and_widths(live_server, browser, admin_user, passport,  # noqa: F811
                                                               developer, settings):
    settings.MG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.MG_WEBHOOK_RETRY_BASE_SECONDS = 0.05
    settings.MG_WEBHOOK_MAX_ATTEMPTS = 2
    settings.MG_WEBHOOK_QUEUE = "webhooks-browser-test"  # the deliveries are attempted here, not by a worker
    receiver = Receiver(statuses=[500, 503, 500, 302])
    try:
        subscriber = services.subscriber_create(actor=admin_user, name="Risk data lake", url=receiver.url,
                                                events=["version", "deployment", "alert"])
        for seed in (1, 2, 3):
            _register(passport, developer, seed=seed)
        for delivery in WebhookDelivery.objects.filter(subscriber=subscriber).order_by("pk"):
            _attempt_until_done(delivery)
        # added last, so that no event is ever sent to its (public) address
        services.subscriber_create(actor=admin_user, name="SIEM", url="https://93.184.215.14/siem", events=["*"])
    finally:
        receiver.close()
    pages = {"list": "/webhooks/", "detail": f"/webhooks/{subscriber.pk}/"}
    page = open_as(browser, live_server, admin_user.username, "/webhooks/")
    shoot_pages(page, live_server, pages, "webhooks")
    assert "Отправить повторно" in page.goto(f"{live_server.url}{pages['detail']}").text()
    assert page.console_errors == []
