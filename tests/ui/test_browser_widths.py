"""Every page of a working installation, as the administrator sees it (every section, every button and form), fits
a phone (390 px) and a desktop (1440 px) window in English and Russian: nothing pushes the page sideways, no key
figure is cut over two lines. Wide tables scroll inside their own box; that is allowed."""

from __future__ import annotations

import pytest

from tests.house import build_house
from tests.ui.test_accessibility import _pages, signed_in
from tests.ui.test_browser_signoff import WIDEST, browser  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Key figures (the ledger's and the portfolio's cards) spread over more than one line: a number cut in two.
BROKEN_FIGURES = """() => [...document.querySelectorAll('.kpi-value')].filter(e => {
  const style = getComputedStyle(e);
  return e.getBoundingClientRect().height > 1.5 * parseFloat(style.lineHeight);
}).map(e => e.textContent.trim())"""


def test_every_page_fits_a_phone_and_a_desktop_in_both_languages(live_server, browser,  # noqa: F811
                                                                  django_capture_on_commit_callbacks):
    w = build_house(django_capture_on_commit_callbacks)
    paths = sorted({path for paths in _pages(w).values() for path in paths} - {"/api/docs/"})
    page = signed_in(browser, live_server, "admin")
    wide = []
    for lang in ("en", "ru"):
        page.context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
        for width in (390, 1440):
            page.set_viewport_size({"width": width, "height": 900})
            for path in paths:
                response = page.goto(f"{live_server.url}{path}")
                assert response.status == 200 and page.url == f"{live_server.url}{path}", (path, page.url)
                page.wait_for_load_state("load")
                scroll = page.evaluate("document.documentElement.scrollWidth")
                broken = page.evaluate(BROKEN_FIGURES)
                if broken:
                    wide.append(f"{lang} {width} {path}: figures broken over lines {broken}")
                if scroll > width:
                    wide.append(f"{lang} {width} {path}: {scroll} px {page.evaluate(WIDEST, width)}")
    assert not wide, "\n".join(wide)
