"""The language a conversation is answered in, from its messages.

Both sides of the bot choose it the same way: the NLG inside Rasa (bot/nlg.py, for
the responses rules and actions name) and the action server (actions/base.py
``language_of``, for the texts actions compose). Each hands over the conversation's
user messages, latest first, as (parse data, metadata) pairs:

1. **The latest message whose language was told** (bot/language.py put
   ``language: {code, source, spoken, ...}`` in its parse data; ``source`` is
   ``script`` or ``detector``, not ``default``) **in a language the desk speaks**: a
   message in Japanese makes the conversation Japanese, an English sentence makes it
   English again. A message too short to tell ("ok", "G000024195", "はい" is told by
   its script) leaves the language as it was, so the choice sticks for the
   conversation.
2. Else the **locale the partner's site asked for**: the chat token's ``locale`` claim,
   which the channel copies into the message metadata as ``locale`` once it has
   verified the token (bot/channels/rest.py), "ja" or "ja-JP".
3. Else the ``language`` slot, if something set it; else English.

Standard library only (both virtual environments import it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from common.texts import DEFAULT_LANGUAGE, desk_languages

LOCALE_KEY = "locale"  # the message metadata's key (and the chat token's claim)
TOLD = frozenset({"script", "detector"})  # bot/language.py: how it was decided


def spoken_language(value: Any) -> str | None:
    """`value` ("ja", "ja-JP", "ja_JP", "EN") as a language the desk speaks, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if code in desk_languages() else None


def told_language(parse_data: Mapping[str, Any] | None) -> str | None:
    """The language bot/language.py told for a message, when it told one the desk
    speaks (not a guess from too little text)."""
    detected = (parse_data or {}).get("language")
    if not isinstance(detected, Mapping) or detected.get("source") not in TOLD:
        return None
    if not detected.get("spoken"):
        return None
    return spoken_language(detected.get("code"))


def conversation_language(
    messages: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]],
    slot: Any = None,
) -> str:
    """The language to answer in: `messages` are the user messages' (parse data,
    metadata), latest first; `slot` the `language` slot's value."""
    locale: str | None = None
    first = True
    for parse_data, metadata in messages:
        told = told_language(parse_data)
        if told is not None:
            return told
        if first:
            locale = spoken_language((metadata or {}).get(LOCALE_KEY))
            first = False
    return locale or spoken_language(slot) or DEFAULT_LANGUAGE
