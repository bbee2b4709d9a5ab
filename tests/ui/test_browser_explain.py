"""Explaining decisions in Chromium: from the version page to the rows' reason codes; screenshots in both
languages at both widths."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.demo.onnx_models import build_demo_model
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.ui.test_browser_signoff import CHROMIUM, browser, open_as, shoot_pages  # noqa: F401  (fixture)
from tests.validation.conftest import TIER_3, _dataset, _version

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_engineer_explains_three_decisions(live_server, browser):  # noqa: F811
    developer = UserFactory(username="dev", roles=["model_developer"], display_name="Dev Eloper")
    owner = UserFactory(username="owner", roles=["model_owner"])
    team = TeamFactory(name="Explain team", members=[developer])
    credit = build_demo_model("credit-scoring", n_rows=1200)
    passport = make_passport(actor=developer, key="credit-explain", team=team, business_owner=owner, **TIER_3)
    version = _version(passport, developer, credit)
    _dataset(passport, developer, credit.reference, "reference", "reference")
    holdout = _dataset(passport, developer, credit.holdout, "holdout")

    page = open_as(browser, live_server, "dev", f"/passports/{passport.key}/versions/{version.number}/")
    page.click("#explain-link")
    page.select_option("#id_dataset", str(holdout.pk))
    page.fill("#id_rows", "1-3")
    page.select_option("#id_output", "probability")
    page.click("#explain-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".explained-row").count() == 3
    first = page.locator(".explained-row").first
    assert first.locator(".reason-code").count() == 5
    assert " = " in first.locator(".reason-text").first.inner_text()
    assert "holds" in page.locator("#explain-summary").inner_text()
    query = page.url.split("?", 1)[1]
    shoot_pages(page, live_server, {"rows": f"/validation/passports/{passport.key}/versions/{version.number}/explain/"
                                            f"?{query}"}, "explain")
    assert page.console_errors == []
