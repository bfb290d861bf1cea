"""Which language a conversation is answered in (common/conversation_language.py)."""

from __future__ import annotations

from typing import Any, Optional

from common.conversation_language import (
    conversation_language,
    spoken_language,
    told_language,
)


def parse(code: str, source: str = "script", spoken: bool = True) -> dict[str, Any]:
    return {
        "language": {
            "code": code,
            "candidates": [code],
            "confidence": 1.0,
            "source": source,
            "spoken": spoken,
        }
    }


SHORT = parse("en", source="default")  # "ok", "G000024195": too short to tell


def latest_first(
    *messages: tuple[dict[str, Any], Optional[dict[str, Any]]],
) -> list[tuple[dict[str, Any], Optional[dict[str, Any]]]]:
    return list(reversed(messages))


def test_a_japanese_message_makes_the_conversation_japanese() -> None:
    assert conversation_language(latest_first((parse("ja"), None))) == "ja"


def test_the_language_sticks_while_messages_are_too_short_to_tell() -> None:
    messages = latest_first((parse("ja"), None), (SHORT, None), (SHORT, None))
    assert conversation_language(messages) == "ja"


def test_an_english_sentence_makes_it_english_again() -> None:
    messages = latest_first((parse("ja"), None), (parse("en", "detector"), None))
    assert conversation_language(messages) == "en"


def test_the_tokens_locale_decides_until_a_message_tells_another() -> None:
    japanese_site = {"locale": "ja-JP"}
    assert conversation_language(latest_first((SHORT, japanese_site))) == "ja"
    messages = latest_first(
        (SHORT, japanese_site), (parse("en", "detector"), japanese_site)
    )
    assert conversation_language(messages) == "en"


def test_a_language_the_desk_does_not_speak_never_becomes_the_conversations() -> None:
    german = parse("de", source="detector", spoken=False)
    assert (
        conversation_language(latest_first((parse("ja"), None), (german, None))) == "ja"
    )
    assert conversation_language(latest_first((SHORT, {"locale": "de-DE"}))) == "en"
    assert conversation_language([], slot="fr") == "en"


def test_the_slot_and_english_are_the_last_resorts() -> None:
    assert conversation_language([], slot="ja") == "ja"
    assert conversation_language([(SHORT, None)]) == "en"
    assert conversation_language([(None, None)]) == "en"


def test_locales_are_read_loosely_and_nonsense_is_ignored() -> None:
    assert spoken_language("ja_JP") == "ja"
    assert spoken_language("EN-us") == "en"
    assert spoken_language("../../etc") is None
    assert spoken_language(7) is None
    assert told_language({"language": "ja"}) is None
    assert told_language(parse("ja", source="default")) is None
