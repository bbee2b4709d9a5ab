"""In Chromium: the Content-Security-Policy holds on the API docs, which load nothing from outside the server."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.factories import UserFactory
from tests.ui.test_browser_signoff import CHROMIUM, PASSWORD, browser, open_as  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(("path", "ready"), [("/api/docs/", ".swagger-ui .info"), ("/api/redoc/", ".api-content")])
def test_api_docs_render_from_this_server_alone(live_server, browser, path, ready):  # noqa: F811
    UserFactory(username="eng", roles=["engineer"])
    page = open_as(browser, live_server, "eng", "/passports/")
    finished, failed = [], []
    page.on("requestfinished", lambda request: finished.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    response = page.goto(f"{live_server.url}{path}")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    page.locator(ready).first.wait_for()
    page.wait_for_load_state("networkidle")
    own = urlsplit(live_server.url).netloc
    elsewhere = [url for url in finished + failed
                 if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != own]
    assert elsewhere == []  # not even asked for (a request the policy refused would be listed as failed)
    assert page.console_errors == []
