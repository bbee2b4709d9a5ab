"""A passport whose fields are as long as allowed, in Chromium: folded behind "Show more", unfolded on a click,
nothing wider than the window; screenshots in both languages at both widths."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.text import LONG_TEXT
from registry import services as registry_services
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.ui.test_browser_signoff import CHROMIUM, browser, open_as, shoot_pages  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_long_fields_fold_and_unfold(live_server, browser):  # noqa: F811
    developer = UserFactory(username="dev", roles=["model_developer"], display_name="Dev Eloper")
    owner = UserFactory(username="owner", roles=["model_owner"])
    team = TeamFactory(name="Long team", members=[developer])
    passport = make_passport(actor=developer, key="long-fields", team=team, business_owner=owner)
    sentence = "Bureau data arrive nightly and are joined on the application id. "
    unbroken = "x" * 5_000  # a word with no place to break
    registry_services.passport_update(actor=developer, passport=passport,
                                      data_sources=(sentence * 400)[:LONG_TEXT],
                                      limitations=(unbroken + " " + sentence * 200)[:LONG_TEXT])
    page = open_as(browser, live_server, "dev", f"/passports/{passport.key}/")
    folds = page.locator(".fold-more")
    assert folds.count() == 2
    assert not page.locator(".fold-tail").first.is_visible()
    folds.first.locator("summary").click()
    assert page.locator(".fold-tail").first.is_visible()
    assert "Show less" in folds.first.locator("summary").inner_text()
    shoot_pages(page, live_server, {"passport": f"/passports/{passport.key}/"}, "long-text")
    assert page.console_errors == []
