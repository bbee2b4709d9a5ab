"""WCAG 2.1 A and AA in a real browser: axe-core (bundled by axe-playwright-python) audits the pages every role
uses, in English and Russian, with every collapsed form opened, and must find nothing."""

from __future__ import annotations

import pytest

from tests.governance.workflow_helpers import PASSWORD
from tests.house import build_house
from tests.ui.test_browser_signoff import browser, settle, shoot_pages  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
         "resultTypes": ["violations"]}
OPEN_DETAILS = "document.querySelectorAll('details').forEach(d => d.open = true)"


def _pages(w) -> dict[str, list[str]]:
    version = f"/passports/{w.key}/versions/{w.number}/"
    return {
        "val": ["/passports/", f"/passports/{w.key}/", version, f"/validation/runs/{w.run}/",
                f"/validation/runs/{w.run}/issue/", "/validation/runs/", "/reviews/",
                f"/validation/passports/{w.key}/versions/{w.number}/explain/?dataset={w.validation.pk}&rows=1-2"],
        "auditor": ["/portfolio/", "/audit/", f"/serving/passports/{w.key}/monitoring/", "/serving/", "/jobs/",
                    "/webhooks/"],
        "fin": ["/finance/", f"/passports/{w.key}/ledger/", f"/passports/{w.key}/ledger/business-case/",
                f"/passports/{w.key}/ledger/ab-result/", "/finance/import/"],
        "dev": ["/tokens/", "/passports/-/new/", f"/passports/{w.key}/edit/",
                f"/passports/{w.key}/versions/upload/", f"/passports/{w.key}/datasets/upload/",
                f"/passports/{w.key}/versions/{w.draft}/", "/api/docs/"],
        "admin": ["/webhooks/", "/serving/hosts/enrol/"],
    }


def _login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state("load")
    assert "/login/" not in page.url, f"{username} could not sign in"


def signed_in(browser, live_server, username: str):  # noqa: F811  (the fixture, passed on)
    """A fresh browser session, 1440 px wide, signed in as ``username``."""
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    _login(page, live_server, username)
    return page


def test_every_page_meets_wcag_21_aa_in_both_languages(live_server, browser, django_capture_on_commit_callbacks):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    w = build_house(django_capture_on_commit_callbacks)
    axe, problems = Axe(), {}
    for username, paths in _pages(w).items():
        page = signed_in(browser, live_server, username)
        context = page.context
        for lang in ("en", "ru"):
            context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
            for path in paths:
                response = page.goto(f"{live_server.url}{path}")
                assert response.status == 200, (username, path, response.status)  # the page itself, not a refusal
                assert page.url == f"{live_server.url}{path}", (username, path, page.url)  # nor a redirect
                settle(page)
                page.evaluate(OPEN_DETAILS)
                page.wait_for_timeout(150)  # the page reacts to the opened <details> (focusable scrollers)
                results = axe.run(page, options=RULES)
                for violation in results.response["violations"]:
                    nodes = [n["target"][0] if n.get("target") else "?" for n in violation["nodes"]][:4]
                    problems.setdefault(f"{violation['id']} ({violation['impact']})", []).append(
                        f"{lang} {path}: {', '.join(map(str, nodes))}")
        if username == "auditor":  # the portfolio (ratings, the chart's table) at both widths, both languages
            page.evaluate(OPEN_DETAILS)
            shoot_pages(page, live_server, {"portfolio": "/portfolio/"}, "a11y")
        context.close()
    report = "\n".join(f"{rule}:\n  " + "\n  ".join(where[:8]) for rule, where in sorted(problems.items()))
    assert not problems, report
