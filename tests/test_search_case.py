"""Case-insensitive search works for Cyrillic (and any alphabet) on SQLite as on PostgreSQL."""

from __future__ import annotations

import pytest

from core.sqlite import like
from registry import selectors
from tests.factories import make_passport

pytestmark = pytest.mark.django_db


def test_searching_a_passport_ignores_case_in_any_alphabet(developer, team, auditor):
    make_passport(actor=developer, key="yolka", team=team, name="Ёлка новогодняя")
    make_passport(actor=developer, key="strasse", team=team, name="Große STRASSE")
    make_passport(actor=developer, key="plain", team=team, name="Plain 100% model_1")
    for query, keys in (("ёлка", {"yolka"}), ("ЁЛКА", {"yolka"}), ("НОВОГОДНЯЯ", {"yolka"}), ("große", {"strasse"}),
                        ("100%", {"plain"}), ("l_1", {"plain"}), ("e_l", set()), ("YOLK", {"yolka"})):
        found = set(selectors.passport_list(user=auditor, filters={"q": query}).values_list("key", flat=True))
        assert found == keys, query


def test_like_keeps_sql_wildcards_and_escapes():
    assert like("%ёл%", "Ёлка") == 1
    assert like("_лка", "Ёлка") == 1 and like("_ка", "Ёлка") == 0
    assert like("100\\%%", "100% sure", "\\") == 1 and like("100\\%%", "1000 sure", "\\") == 0
    assert like("a", None) is None
