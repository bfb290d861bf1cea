"""The text catalogues: every text a user reads, one file per language.

    from common.texts import catalogue

    english = catalogue("en")
    english.response("utter_greet")            # the bot's answer, Rasa's format
    english.text("invoice.status.due_in", days="3 days")  # a phrase actions use
    english.widget()                           # the chat widget's strings

`common/texts/<language>.yml` holds four sections keyed by id: `responses` (the bot's
answers: lists of variations in Rasa's response format, rendered inside Rasa by
bot/nlg.py), `texts` (phrases actions compose, Python format strings), `widget` and
`documents`. A language other than English may leave ids out; they fall back to
English, so adding a language is a data change (its catalogue) plus its NLU.

`desk: true` at the top of a catalogue says the desk speaks that language: its NLU
understands it and the bot answers in it (`desk_languages()`, the one list of them).
A catalogue without it is partial on purpose: it holds the few texts that tell a
user, in their own language, which languages the desk speaks (`language.*`), and the
words those texts are built with (`list.*`). Making such a language one the desk
speaks means completing its catalogue and its NLU, then setting `desk: true`.

Standard library and PyYAML only: Rasa's environment renders the responses, ours the
texts, the widget and the PDFs.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEXTS_DIR = Path(__file__).with_name("texts")
DEFAULT_LANGUAGE = "en"
SECTIONS = ("responses", "texts", "widget", "documents")
DESK_KEY = "desk"  # `desk: true`: the desk speaks the catalogue's language


class CatalogueError(ValueError):
    """A catalogue file is malformed, or an id is unknown."""


def languages() -> tuple[str, ...]:
    """The languages that have a catalogue (whole or partial), English first."""
    found = sorted(path.stem for path in TEXTS_DIR.glob("*.yml"))
    return tuple(sorted(found, key=lambda code: code != DEFAULT_LANGUAGE))


def desk_languages() -> tuple[str, ...]:
    """The languages the desk speaks (catalogues with `desk: true`), English first."""
    spoken = tuple(code for code in languages() if catalogue(code).desk)
    if DEFAULT_LANGUAGE not in spoken:
        raise CatalogueError(f"{DEFAULT_LANGUAGE}.yml must say `desk: true`")
    return spoken


class _Blank(dict[str, Any]):
    """Formatting values in which a missing name is left as `{name}`."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, values: Mapping[str, Any]) -> str:
    """`template` with `{name}` replaced from `values` (unknown names left as they
    are, never an error: a text is shown even when a value is missing)."""
    return string.Formatter().vformat(template, (), _Blank(values))


@dataclass(frozen=True)
class Catalogue:
    """One language's texts (falling back to English for ids it leaves out)."""

    language: str
    responses: Mapping[str, list[dict[str, Any]]]
    texts: Mapping[str, str]
    widget_texts: Mapping[str, str]
    document_texts: Mapping[str, str]
    desk: bool = False  # the desk speaks this language (not only a few texts)

    def response(self, key: str) -> list[dict[str, Any]]:
        """The variations of the bot's answer `key`."""
        try:
            return self.responses[key]
        except KeyError:
            raise CatalogueError(f"no response {key!r} in the catalogue") from None

    def text(self, key: str, **values: Any) -> str:
        """The phrase `key`, filled with `values`."""
        try:
            template = self.texts[key]
        except KeyError:
            raise CatalogueError(f"no text {key!r} in the catalogue") from None
        return fill(template, values)

    def widget(self) -> dict[str, str]:
        """Every string the chat widget shows."""
        return dict(self.widget_texts)

    def document(self, key: str, **values: Any) -> str:
        """A word or phrase of the invoice PDFs."""
        try:
            return fill(self.document_texts[key], values)
        except KeyError:
            raise CatalogueError(f"no document text {key!r} in the catalogue") from None


def _read(path: Path) -> tuple[dict[str, dict[str, Any]], bool]:
    """The sections of a catalogue file, and whether the desk speaks its language."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or data.get("language") != path.stem:
        raise CatalogueError(f"{path}: `language: {path.stem}` is missing")
    unknown = set(data) - {"version", "language", DESK_KEY, *SECTIONS}
    if unknown:
        raise CatalogueError(f"{path}: unknown sections {sorted(unknown)}")
    if not isinstance(data.get(DESK_KEY, False), bool):
        raise CatalogueError(f"{path}: `{DESK_KEY}` must be true or false")
    sections: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            raise CatalogueError(f"{path}: `{section}` must map ids to texts")
        sections[section] = entries
    for key, variations in sections["responses"].items():
        if not (
            isinstance(variations, list)
            and variations
            and all(isinstance(v, dict) and "text" in v for v in variations)
        ):
            raise CatalogueError(f"{path}: response {key} needs a list of `- text:`")
    for section in ("texts", "widget", "documents"):
        for key, value in sections[section].items():
            if not isinstance(value, str):
                raise CatalogueError(f"{path}: {section}.{key} must be a string")
    return sections, data.get(DESK_KEY, False) is True


@lru_cache
def catalogue(language: str = DEFAULT_LANGUAGE) -> Catalogue:
    """The catalogue of `language` (English for a language we have none for)."""
    english, english_desk = _read(TEXTS_DIR / f"{DEFAULT_LANGUAGE}.yml")
    path = TEXTS_DIR / f"{language}.yml"
    if language == DEFAULT_LANGUAGE or not path.is_file():
        own, desk = english, english_desk
        language = DEFAULT_LANGUAGE
    else:
        own, desk = _read(path)
    merged = {section: {**english[section], **own[section]} for section in SECTIONS}
    return Catalogue(
        language=language,
        responses=merged["responses"],
        texts=merged["texts"],
        widget_texts=merged["widget"],
        document_texts=merged["documents"],
        desk=desk,
    )
