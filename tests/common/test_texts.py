"""The text catalogues (common/texts/): format, fallback to English, filling."""

from __future__ import annotations

from pathlib import Path

import pytest

from common import texts
from common.texts import CatalogueError, catalogue, fill


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
