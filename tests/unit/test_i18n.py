"""One catalogue of the service's own words: every key in every shipped language, and every
word a template or the code asks for exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from survey_service.lib.i18n import LANGUAGES, accepted_languages, browser_language, ui_text

PACKAGE = Path(__file__).resolve().parents[2] / "survey_service"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_word(language: str) -> None:
    assert set(ui_text(language)) == set(ui_text("en"))
    assert all(text.strip() for text in ui_text(language).values())


def test_every_word_asked_for_exists() -> None:
    asked: set[str] = set()
    for path in PACKAGE.rglob("*.html"):
        asked |= set(re.findall(r"\bt\.(\w+)", path.read_text(encoding="utf-8")))
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        asked |= set(re.findall(r"""\b(?:t|words)\[["'](\w+)["']\]""", source))
        # notice(language, "kind", ...) shows the words "kind" and "kind_title"
        for kind in re.findall(r"""notice\(\s*\w+,\s*["'](\w+)["']""", source):
            asked |= {kind, f"{kind}_title"}
    assert asked, "the scan found nothing: the patterns are out of date"
    assert sorted(asked - set(ui_text("en"))) == []


def test_unknown_languages_get_english_words() -> None:
    assert ui_text("fr") == ui_text("en")


def test_browser_language_picks_the_best_shipped_one() -> None:
    assert accepted_languages("fr;q=0.9, es-MX, en;q=0.5") == ("es", "fr", "en")
    assert browser_language("fr, es;q=0.8") == "es"
    assert browser_language("de") == "en"
    assert browser_language(None) == "en"
