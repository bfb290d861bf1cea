"""The Japanese catalogue (common/texts/ja.yml): the desk speaks Japanese, so every
answer the bot gives exists in Japanese, fills the same values as the English one
and offers the same buttons."""

from __future__ import annotations

import re
import string
from datetime import date
from pathlib import Path

import pytest
import yaml

from common.texts import TEXTS_DIR, catalogue, desk_languages

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# The phrases of the main billing answers (invoices, payments, support, subscriptions
# and cancellation windows, suspension, tickets, hand-off), by id prefix.
TRANSLATED_TEXT_PREFIXES = (
    "handoff.agent_joined",
    "handoff.resumed",
    "handoff.timed_out",
    "period.",
    "moment",
    "list.",
    "unit.",
    "intent_title.",
    "language.",
    "account.",
    "possessive",
    "invoice.",
    "credit_note.",
    "payment.",
    "charge.",
    "refund.kind.",
    "refund.sentence.",
    "refund.choice",
    "subscription.",
    "support.",
    "suspension.",
    "ticket.",
    "why.",
    "button.",
)


def _raw(code: str) -> dict:
    return yaml.safe_load((TEXTS_DIR / f"{code}.yml").read_text(encoding="utf-8"))


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_the_desk_speaks_japanese() -> None:
    assert "ja" in desk_languages()
    assert catalogue("ja").desk is True


def test_every_response_exists_in_japanese_and_reads_as_japanese() -> None:
    english, japanese = _raw("en")["responses"], _raw("ja")["responses"]
    assert set(japanese) == set(english)
    for key, variations in japanese.items():
        for variation in variations:
            words = re.sub(r"\{[^}]*\}", "", variation["text"])
            if re.search(r"[A-Za-z]", words) or words.strip():
                assert JAPANESE.search(variation["text"]), key


def test_a_japanese_text_fills_only_values_the_english_one_is_given() -> None:
    english, japanese = _raw("en"), _raw("ja")
    for key, variations in japanese["responses"].items():
        theirs = set().union(*(_names(v["text"]) for v in english["responses"][key]))
        for variation in variations:
            assert _names(variation["text"]) <= theirs, key
    for section in ("texts", "widget"):
        for key, text in japanese[section].items():
            assert _names(text) <= _names(english[section][key]), key


def test_buttons_send_the_same_payloads_in_japanese() -> None:
    english, japanese = _raw("en")["responses"], _raw("ja")["responses"]
    for key, variations in japanese.items():
        ours = [[b["payload"] for b in v.get("buttons", [])] for v in variations]
        theirs = [[b["payload"] for b in v.get("buttons", [])] for v in english[key]]
        assert ours == theirs, key
        for variation in variations:
            for button in variation.get("buttons", []):
                assert JAPANESE.search(button["title"]), key


def test_the_phrases_of_the_billing_answers_are_translated() -> None:
    english, japanese = _raw("en")["texts"], _raw("ja")["texts"]
    wanted = [
        key
        for key in english
        if key.startswith(TRANSLATED_TEXT_PREFIXES)
        and not key.endswith(".one")  # Japanese has no singular: `other` serves
        and english[key].strip("{}") not in ("hours", "days")  # "{days}" as is
    ]
    missing = [key for key in wanted if key not in japanese]
    assert not missing
    assert set(_raw("ja")["widget"]) == set(_raw("en")["widget"])


def test_japanese_texts_are_filled_with_japanese_values() -> None:
    ja = catalogue("ja")
    assert ja.text("invoice.status.due_in", days="3日") == "未払い、支払期限まであと3日"
    assert ja.text("month", month=date(2026, 4, 1)) == "2026年4月"
    assert ja.text("possessive", name="Contoso") == "Contosoの"
    rendered = ja.response("utter_invoice_latest")[0]["text"]
    assert "請求書" in rendered and "{invoice_number}" in rendered


@pytest.mark.parametrize("path", sorted(Path(TEXTS_DIR).glob("ja.yml")))
def test_the_catalogue_has_no_english_leftover_in_a_translated_text(
    path: Path,
) -> None:
    texts = yaml.safe_load(path.read_text(encoding="utf-8"))["texts"]
    leftovers = [
        key
        for key, text in texts.items()
        if re.search(r"\b(?:the|and|your|you|is|are)\b", text)
    ]
    assert not leftovers
