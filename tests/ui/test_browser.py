"""End to end in Debian's Chromium: a model developer creates a passport and registers an ONNX version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from registry.models import ModelVersion
from tests.factories import BusinessUnitFactory, TeamFactory, UserFactory, linear_onnx

# Playwright's sync API runs an event loop in this thread; Django's ORM then refuses sync calls without this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(60_000)  # generous: CI machines are shared and slow
        yield page
        browser.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_developer_creates_passport_and_uploads_version(live_server, browser_page, tmp_path):
    developer = UserFactory(username="browser-dev", roles=["model_developer"], display_name="Browser Dev")
    team = TeamFactory(name="Browser team", members=[developer])
    unit = BusinessUnitFactory(code="retail", name="Retail lending")
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(linear_onnx(3, seed=7))
    page = browser_page

    page.goto(f"{live_server.url}/passports/")
    assert "/login/" in page.url
    page.fill("#id_username", "browser-dev")
    page.fill("#id_password", "pw-Secret-123")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/passports/")

    page.click("text=New passport")
    page.fill("#id_key", "browser-model")
    page.fill("#id_name", "Browser model")
    page.fill("#id_purpose", "Checks the UI end to end.")
    page.select_option("#id_business_owner", str(developer.pk))
    page.select_option("#id_technical_owner", str(developer.pk))
    page.select_option("#id_development_team", str(team.pk))
    page.select_option("#id_business_unit", str(unit.pk))
    page.check("input[name=materiality][value=high]")
    page.check("input[name=decision_type][value=automated]")
    page.check("input[name=regulatory_exposure][value=none]")
    page.locator("#tier-preview .tier-1").wait_for()  # the HTMX preview derives the tier before saving
    page.click("text=Create passport")
    page.wait_for_url(f"{live_server.url}/passports/browser-model/")
    assert "Browser model" in page.locator("h1").inner_text()

    page.click("text=Upload version")
    page.set_input_files("#id_artifact", str(artifact))
    page.fill("#id_feature_names", "income, tenure, utilisation")
    page.fill("#id_change_description", "First version from the browser test.")
    page.click("text=Register version")
    page.wait_for_url(f"{live_server.url}/passports/browser-model/versions/1/")
    assert "income" in page.locator("#feature-schema").inner_text()

    page.click("nav[aria-label=Breadcrumb] >> text=browser-model")
    page.wait_for_url(f"{live_server.url}/passports/browser-model/")
    row = page.locator("#versions-table tbody tr").first
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "browser-passport-detail.png"), full_page=True)
    text = " ".join(row.inner_text().split())
    version = ModelVersion.objects.get(passport__key="browser-model")
    size = " ".join(filesizeformat(version.size).split())
    assert text.startswith("v1 Draft") and version.sha256[:12] in text and size in text
    assert f" {version.opset} " in text and "tests" in text and "Browser Dev" in text
