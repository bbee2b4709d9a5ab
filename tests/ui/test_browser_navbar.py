"""The main navigation in Debian's Chromium, at its widest: an administrator sees every section, in Russian the
labels are longest, a background job adds its own item. It must stay one row inside the window at every desktop
width from a 1,280 px laptop's (1,200 px and up), or fold behind its toggle below that; never push the page sideways
or cut the user's menu off the edge; and the bar's edges are the page's."""

from __future__ import annotations

import pytest

from governance.jobs.models import Job, JobState
from tests.factories import UserFactory
from tests.ui.test_accessibility import signed_in
from tests.ui.test_browser_signoff import WIDEST, browser  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Each item's right edge, the toggle's visibility and the bar's height, as the reader's window shows them.
BAR = """() => {
  const nav = document.querySelector('nav.app-navbar');
  const toggler = nav.querySelector('.navbar-toggler');
  const items = [...nav.querySelectorAll('.navbar-brand, #main-nav .nav-link')]
    .filter(e => e.getClientRects().length).map(e => Math.round(e.getBoundingClientRect().right));
  const jobs = nav.querySelector('#nav-jobs');
  return {height: Math.round(nav.getBoundingClientRect().height), items,
          folded: getComputedStyle(toggler).display !== 'none',
          brand: Math.round(nav.querySelector('.navbar-brand').getBoundingClientRect().left),
          page: Math.round(document.querySelector('main').getBoundingClientRect().left
                           + parseFloat(getComputedStyle(document.querySelector('main')).paddingLeft)),
          jobs: [...jobs.querySelectorAll('.nav-count-compact, .nav-text-wide')]
            .filter(e => e.getBoundingClientRect().width > 1).map(e => e.innerText.trim()).join(' '),
          jobsTitle: jobs.title};
}"""


def test_an_administrators_navigation_fits_every_desktop_width_in_both_languages(live_server, browser):  # noqa: F811
    admin = UserFactory(username="admin", roles=["admin"], is_staff=True, is_superuser=True,
                        display_name="Platform administrator")
    Job.objects.create(kind="dossier", title="Dossier", created_by=admin, state=JobState.RUNNING)
    page = signed_in(browser, live_server, "admin")

    seen = {}
    for lang in ("en", "ru"):
        page.context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
        page.goto(f"{live_server.url}/serving/")
        page.wait_for_load_state("load")
        assert page.locator("#nav-jobs").count() == 1  # the job's item is part of the widest bar
        running = "1 job running" if lang == "en" else "1 задание выполняется"
        for width in (992, 1199, 1200, 1280, 1366, 1399, 1400, 1440, 1920):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(100)
            bar = page.evaluate(BAR)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, (lang, width, scroll, page.evaluate(WIDEST, width))
            assert max(bar["items"]) <= width, (lang, width, bar)
            assert bar["folded"] == (width < 1200), (lang, width, bar)
            assert bar["brand"] == bar["page"], (lang, width, bar)  # the bar's left edge is the content's
            assert bar["jobsTitle"] == running, (lang, width, bar)  # the words, whatever the item shows
            if not bar["folded"]:
                assert bar["height"] < 60, (lang, width, bar)  # one row: nothing wrapped under it
                assert len(bar["items"]) >= 8, (lang, width, bar)  # home and every section are on it
                # On a laptop's bar the job's item shows its count alone; on a wider one its words.
                assert bar["jobs"] == ("1" if width < 1400 else running), (lang, width, bar)
            seen[(lang, width)] = bar

        # The bar's names left to screen readers are still there: the home link and the user's menu, which names
        # the user when opened.
        page.set_viewport_size({"width": 1440, "height": 900})
        name = "Model Governance" if lang == "en" else "Управление моделями"
        assert page.get_by_role("link", name=name).count() == 1
        page.locator("nav .dropdown-toggle[title='Platform administrator']").click()
        header = page.locator("nav .dropdown-menu.show .dropdown-header").inner_text()
        assert "Platform administrator" in header and "admin" in header, header
        page.keyboard.press("Escape")

        # Folded, the bar shows the product's name beside the toggle, and the opened menu the user's name.
        page.set_viewport_size({"width": 1100, "height": 900})
        assert page.locator("nav .navbar-brand .nav-text-narrow").is_visible()
        assert page.locator("nav .navbar-brand").inner_text().split()[-len(name.split()):] == name.split()
        page.locator("nav .navbar-toggler").click()
        page.locator("#main-nav.show").wait_for()
        assert page.locator("#main-nav .dropdown-toggle .nav-text-narrow").inner_text() == "Platform administrator"
        assert page.locator("#main-nav .dropdown-toggle .nav-text-narrow").is_visible()
        page.locator("nav .navbar-toggler").click()
    assert seen[("ru", 1440)]["height"] == seen[("en", 1440)]["height"]
