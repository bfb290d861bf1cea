"""The text catalogues (common/texts/): format, fallback to English, filling."""

from __future__ import annotations

from pathlib import Path

import pytest

from common import texts
from common.texts import (
    DEFAULT_LANGUAGE,
    CatalogueError,
    catalogue,
    desk_languages,
    fill,
    languages,
)


def test_english_has_the_responses_every_section_and_no_empty_text() -> None:
    english = catalogue("en")
    assert english.language == "en"
    assert "utter_greet" in english.responses
    for key, variations in english.responses.items():
        assert all(v["text"].strip() for v in variations), key


def test_a_language_without_a_catalogue_falls_back_to_english() -> None:
    assert catalogue("xx").language == "en"
    assert catalogue("xx").responses == catalogue("en").responses


def test_fill_leaves_unknown_names_and_never_fails() -> None:
    assert fill("{a} and {b}", {"a": 1}) == "1 and {b}"
    assert fill("no names", {"a": 1}) == "no names"


def test_an_unknown_id_is_a_clear_error() -> None:
    with pytest.raises(CatalogueError, match="no response"):
        catalogue("en").response("utter_nothing_like_this")
    with pytest.raises(CatalogueError, match="no text"):
        catalogue("en").text("nothing.like.this")


def test_a_catalogue_that_misses_its_language_or_has_bad_entries_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "en.yml").write_text("language: en\nresponses:\n  utter_x: hello\n")
    monkeypatch.setattr(texts, "TEXTS_DIR", tmp_path)
    catalogue.cache_clear()
    try:
        with pytest.raises(CatalogueError, match="utter_x"):
            catalogue("en")
        (tmp_path / "en.yml").write_text("responses: {}\n")
        catalogue.cache_clear()
        with pytest.raises(CatalogueError, match="language"):
            catalogue("en")
    finally:
        catalogue.cache_clear()


# The languages a message can be told in and answered in (bot/language.py), with
# a partial catalogue that says which languages the desk speaks.
TOLD_IN_THEIR_LANGUAGE = ("zh", "de", "fr", "es", "pt", "it", "nl")


def test_only_catalogues_that_say_desk_are_languages_the_desk_speaks() -> None:
    assert desk_languages() == ("en", "ja")
    assert catalogue("en").desk is True
    assert catalogue("ja").desk is True
    assert set(TOLD_IN_THEIR_LANGUAGE) <= set(languages())
    for code in TOLD_IN_THEIR_LANGUAGE:
        assert catalogue(code).desk is False, code


@pytest.mark.parametrize("code", TOLD_IN_THEIR_LANGUAGE)
def test_a_partial_catalogue_has_its_own_few_texts_and_english_for_the_rest(
    code: str,
) -> None:
    own, english = catalogue(code), catalogue("en")
    assert own.language == code
    unsupported = own.text("language.unsupported", languages="L", any_language="A")
    assert unsupported != english.text(
        "language.unsupported", languages="L", any_language="A"
    )
    assert "L" in unsupported and "A" in unsupported
    assert own.responses == english.responses
    assert own.widget() == english.widget()
    assert own.text("list.and", head="a", tail="b") == "a and b"


def test_every_language_with_a_catalogue_but_no_desk_tells_which_it_speaks() -> None:
    english = catalogue("en").texts["language.unsupported"]
    for code in set(languages()) - set(desk_languages()):
        assert catalogue(code).texts["language.unsupported"] != english, code


def test_the_desk_flag_is_true_or_false_and_english_always_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(texts, "TEXTS_DIR", tmp_path)
    catalogue.cache_clear()
    try:
        (tmp_path / "en.yml").write_text("language: en\ndesk: maybe\n")
        with pytest.raises(CatalogueError, match="desk"):
            catalogue("en")
        (tmp_path / "en.yml").write_text("language: en\n")
        (tmp_path / "de.yml").write_text("language: de\ndesk: true\n")
        catalogue.cache_clear()
        with pytest.raises(CatalogueError, match="desk: true"):
            desk_languages()
        (tmp_path / "en.yml").write_text("language: en\ndesk: true\n")
        catalogue.cache_clear()
        assert desk_languages() == (DEFAULT_LANGUAGE, "de")
    finally:
        catalogue.cache_clear()
