"""Russian all the way: every page of the house, rendered in English and in Russian, has no interface text left in
English in the Russian rendering. A text that reads the same in both renderings, holds two English words in a row
and is not data (a name, a description, a feature, an identifier someone typed) is an untranslated string."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models

from tests.house import build_house
from tests.ui.test_accessibility import _pages

pytestmark = pytest.mark.django_db
ENGLISH = re.compile(r"\b[A-Za-z][a-z]{2,}[ -][a-z]{3,}\b")
SKIPPED_TAGS = {"script", "style", "code", "pre", "title", "textarea", "option", "datalist", "kbd", "samp"}
# Names that stay as they are in every language (product, standards, libraries).
NAMES = ("Model Governance", "ONNX Runtime", "Swagger", "Redoc", "Plotly")


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Text(HTMLParser):
    """Visible text nodes, leaving out code, identifiers in monospace and what is marked ``translate="no"``."""

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.skip = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        attrs = dict(attrs)
        hidden = (tag in SKIPPED_TAGS or "font-monospace" in (attrs.get("class") or "")
                  or attrs.get("translate") == "no")
        self.stack.append((tag, hidden))
        self.skip += hidden

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, hidden = self.stack.pop()
            self.skip -= hidden
            if open_tag == tag:
                break

    def handle_data(self, data):
        text = " ".join(data.split())
        if text and not self.skip:
            self.texts.append(text)


def _texts(html: str) -> set[str]:
    parser = _Text()
    parser.feed(html.split("<main", 1)[-1].split(">", 1)[-1])  # from inside the main element
    return set(parser.texts)


def _data_strings() -> set[str]:
    """Every text value stored in the database: what people typed and what the house was built with."""
    found = set()
    for model in apps.get_models():
        fields = [f.name for f in model._meta.fields if isinstance(f, models.CharField | models.TextField)]
        if not fields:
            continue
        for row in model.objects.values_list(*fields):
            found.update(str(v) for v in row if v)
    return found


def _is_data(text: str, data: set[str]) -> bool:
    return any(text in value or value in text for value in data if len(value) >= 4)


def test_no_interface_text_stays_english_in_russian(client, django_capture_on_commit_callbacks):
    house = build_house(django_capture_on_commit_callbacks)
    data = _data_strings() | set(house.credit.feature_names if hasattr(house, "credit") else [])
    leftovers: dict[str, set[str]] = {}
    for username, paths in _pages(house).items():
        client.force_login(house.users[{"fin": "finance", "dev": "developer"}.get(username, username)])
        for path in paths:
            if path.startswith("/api/"):
                continue
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
            english = _texts(client.get(path).content.decode())
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
            russian = _texts(client.get(path).content.decode())
            same = {t for t in russian & english if ENGLISH.search(t) and not any(n in t for n in NAMES)}
            left = {t for t in same if not _is_data(t, data)}
            if left:
                leftovers[path] = left
    assert leftovers == {}, "\n".join(f"{p}: {sorted(t)}" for p, t in leftovers.items())


def test_the_detector_finds_english_left_in_a_russian_page():
    english = _texts("<main><h1>Audit log</h1><p>Ready for review<br><b>dev</b></p><code>some code here</code>"
                     "<span class='font-monospace'>sha digest here</span><p>Left over text</p></main>")
    russian = _texts("<main><h1>Журнал аудита</h1><p>Ready for review<br><b>dev</b></p><code>some code here</code>"
                     "<span class='font-monospace'>sha digest here</span><p>Left over text</p></main>")
    same = {t for t in russian & english if ENGLISH.search(t)}
    assert same == {"Ready for review", "Left over text"}
