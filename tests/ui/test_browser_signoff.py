"""End to end in Debian's Chromium: the validator and the business owner sign a validated tier-3 version with
their passwords (re-authenticated electronic signatures), and the version page then shows it approved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

from governance.workflow.models import Finding, SignOff
from registry.choices import VersionState
from registry.models import ModelVersion
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import PASSWORD, Cast, register, to_validated

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
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_as(browser, live_server, username: str, path: str):
    """A fresh browser session logged in as ``username``, on ``path``; console errors are collected."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)  # generous: CI machines are shared and slow
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}{path}")
    assert "/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}{path}")
    return page


# The page is whole: loaded, and no htmx request in flight, being swapped in or settling. (Playwright's "networkidle"
# waits for half a second of silence on every page instead.)
SETTLED = ("() => document.readyState === 'complete'"
           " && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def settle(page) -> None:
    page.wait_for_function(SETTLED)


# What makes a page wider than the window: elements reaching past its right edge, and elements whose content
# spills out of their box (overflow visible), each with its right edge or widths; reported when the check fails.
WIDEST = """(width) => {
  const name = e => `${e.tagName.toLowerCase()}#${e.id}.${[...e.classList].join('.')}`;
  const all = [...document.querySelectorAll('body *')];
  const past = all.filter(e => e.getBoundingClientRect().right > width + 1).slice(0, 6)
    .map(e => `${name(e)} right=${Math.round(e.getBoundingClientRect().right)}`);
  const spilling = all.filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0
                               && getComputedStyle(e).overflowX === 'visible').slice(0, 6)
    .map(e => `${name(e)} content=${e.scrollWidth} box=${e.clientWidth}: ${(e.textContent || '').trim().slice(0, 40)}`);
  return {past, spilling};
}"""


def shoot_pages(page, live_server, pages: dict, prefix: str, check=None) -> None:
    """Every page of ``pages`` (name -> path) in English and Russian at 1440 and 390 px: nothing wider than the
    window, ``check(name)`` where given, a full-page screenshot ``<prefix>-<name>-<lang>-<width>.png``."""
    for lang in ("en", "ru"):
        page.context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            for name, path in pages.items():
                page.goto(f"{live_server.url}{path}")
                settle(page)
                if check is not None:
                    check(name)
                page.screenshot(path=str(SCREENSHOTS / f"{prefix}-{name}-{lang}-{width}.png"), full_page=True)
                overflow = page.evaluate("document.documentElement.scrollWidth")
                assert overflow <= width, (name, lang, width, overflow, page.evaluate(WIDEST, width))


def signoff_row(page, role: str) -> str:
    return " ".join(page.locator(f"#signoffs-table tr[data-role={role}]").inner_text().split())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_validator_and_owner_sign_and_the_version_is_approved(live_server, browser):
    developer = UserFactory(username="dev", roles=["model_developer"], display_name="Dev Eloper")
    owner = UserFactory(username="owner", roles=["model_owner"], display_name="Olga Owner")
    cast = Cast()
    team = TeamFactory(name="Browser team", members=[developer])
    passport = make_passport(actor=developer, key="browser-low", team=team, business_owner=owner,
                             materiality="low", decision_type="human_in_the_loop", processes_personal_data=False,
                             regulatory_exposure="none")
    assert passport.risk_tier == 3
    version = to_validated(register(passport, developer), developer, cast)
    path = f"/passports/{passport.key}/versions/{version.number}/"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The assigned validator signs with their password.
    page = open_as(browser, live_server, "val", path)
    assert "Missing" in signoff_row(page, "validator")
    assert page.locator("#id_sign-role").input_value() == "validator"  # the only role they may sign in
    assert page.locator("#id_sign-password").get_attribute("type") == "password"
    # shown only for "approve with conditions"
    assert page.locator("form[data-signoff-form] [data-conditions]").is_hidden()
    page.check("#id_sign-decision_0")
    page.fill("#id_sign-comment", "Holdout AUC 0.81; calibration within policy.")
    page.fill("#id_sign-password", PASSWORD)
    page.screenshot(path=str(SCREENSHOTS / "browser-signoff-validator-form.png"), full_page=True)
    page.click("#sign button[type=submit]")
    page.wait_for_url(f"{live_server.url}{path}#wf-signoffs")
    row = signoff_row(page, "validator")
    assert "val" in row and "Approve" in row and "Counts" in row
    assert "Missing" in signoff_row(page, "business_owner")
    assert page.locator("h1 .state-badge").inner_text() == "Validated"
    assert page.locator("#sign").count() == 0  # signed: nothing left for the validator to sign
    page.screenshot(path=str(SCREENSHOTS / "browser-signoff-validator-signed.png"), full_page=True)
    assert not page.console_errors

    # The business owner approves with a dated condition; the version is approved.
    page = open_as(browser, live_server, "owner", path)
    assert page.locator("#id_sign-role").input_value() == "business_owner"
    page.check("#id_sign-decision_1")  # approve with conditions
    page.locator("form[data-signoff-form] [data-conditions]").wait_for(state="visible")
    page.click("[data-add-condition]")
    assert page.locator(".condition-row").count() == 3
    page.fill("#id_sign-cond-0-text", "Weekly PSI report for three months")
    page.fill("#id_sign-cond-0-due_date", "2031-03-31")
    page.fill("#id_sign-password", PASSWORD)
    page.click("#sign button[type=submit]")
    page.wait_for_url(f"{live_server.url}{path}#wf-signoffs")
    assert page.locator("h1 .state-badge").inner_text() == "Approved"
    assert page.locator(".wf-step[aria-current=step] .wf-step-label").inner_text() == "Approved"
    owner_row = signoff_row(page, "business_owner")
    assert "Counts" in owner_row and "Weekly PSI report" in owner_row
    assert "is approved" in page.locator(".messages").inner_text()
    assert "Weekly PSI report for three months" in page.locator("#findings-table").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "browser-signoff-approved.png"), full_page=True)
    assert not page.console_errors

    version = ModelVersion.objects.get(pk=version.pk)
    assert version.state == VersionState.APPROVED and version.approval_expires_at
    assert SignOff.objects.filter(version=version).count() == 2
    assert Finding.objects.get(version=version).due_date.isoformat() == "2031-03-31"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_wrong_password_in_the_browser_records_nothing(live_server, browser):
    developer = UserFactory(username="dev", roles=["model_developer"])
    owner = UserFactory(username="owner", roles=["model_owner"])
    cast = Cast()
    passport = make_passport(actor=developer, key="browser-pw", team=TeamFactory(members=[developer]),
                             business_owner=owner, materiality="low", decision_type="human_in_the_loop",
                             processes_personal_data=False, regulatory_exposure="none")
    version = to_validated(register(passport, developer), developer, cast)
    path = f"/passports/{passport.key}/versions/{version.number}/"
    page = open_as(browser, live_server, "val", path)
    page.fill("#id_sign-comment", "Looks fine.")
    page.fill("#id_sign-password", "not-my-password")
    page.click("#sign button[type=submit]")
    page.locator("#workflow-error").wait_for()
    assert "password does not match" in page.locator("#workflow-error").inner_text()
    assert page.locator("#id_sign-comment").input_value() == "Looks fine."  # what was typed is kept
    assert page.locator("#id_sign-password").input_value() == ""  # the password is not
    assert not SignOff.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_validator_confirms_what_is_not_final_and_later_sees_the_sign_off_voided(live_server, browser, settings):
    """Tier 1, the OWASP checklist still open: the sign form lists it and asks for a confirmation; security's
    answer then voids the sign-off and My reviews says so, in English and Russian, wide and narrow."""
    from governance.workflow.models import ChecklistItem
    from governance.workflow.services import findings

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    developer = UserFactory(username="dev", roles=["model_developer"])
    owner = UserFactory(username="owner", roles=["model_owner"])
    cast = Cast()
    passport = make_passport(actor=developer, key="browser-high", team=TeamFactory(members=[developer]),
                             business_owner=owner)
    assert passport.risk_tier == 1
    version = to_validated(register(passport, developer), developer, cast)
    path = f"/passports/{passport.key}/versions/{version.number}/"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = open_as(browser, live_server, "val", path)
    pending = page.locator(".sign-pending")
    assert "OWASP checklist" in pending.inner_text()
    page.check("#id_sign-decision_0")
    page.fill("#id_sign-password", PASSWORD)
    page.click("[data-signoff-form] button[type=submit]")  # not confirmed: refused, nothing signed
    page.wait_for_load_state()
    assert "confirm that you sign anyway" in page.content() and not SignOff.objects.exists()
    page.screenshot(path=str(SCREENSHOTS / "sign-pending-refused.png"), full_page=True)
    page.console_errors.clear()  # the refusal's own 400
    page.check("#id_sign-acknowledge_pending")
    page.fill("#id_sign-password", PASSWORD)
    page.click("[data-signoff-form] button[type=submit]")
    page.wait_for_load_state()
    assert SignOff.objects.filter(signer=cast.validator).exists()

    item = ChecklistItem.objects.get(version=version, code="ML05")
    findings.checklist_answer(actor=cast.security, item=item, status="open", evidence="Model theft not assessed.")
    for lang, heading in (("en", "Your sign-offs that stopped counting"),
                          ("ru", "Ваши подписи, которые перестали учитываться")):
        page.context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server.url}/reviews/")
            assert heading in page.locator("#voided").inner_text() and "ML05" in page.locator("#voided").inner_text()
            page.screenshot(path=str(SCREENSHOTS / f"reviews-voided-{lang}-{width}.png"), full_page=True)
            page.goto(f"{live_server.url}{path}")
            page.screenshot(path=str(SCREENSHOTS / f"version-voided-{lang}-{width}.png"), full_page=True)
    assert page.console_errors == []
