"""Who is chatting, as far as a custom action may trust it.

A chatter is identified only by the signed chat token that the channel puts in the
message metadata (`{"chat_token": "<jwt>"}`). Rasa copies the metadata of a session's
first message into the built-in `session_started_metadata` slot; the token there is
checked first, then the one on the latest message (a fresh token, for example after
the first one expired in a long session). Entities and text never identify anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional

from api.identity import ChatIdentity, InvalidChatToken, verify_chat_token
from api.settings import get_settings

if TYPE_CHECKING:
    from rasa_sdk import Tracker

logger = logging.getLogger(__name__)

CHAT_TOKEN_KEY = "chat_token"  # noqa: S105 (a metadata key, not a secret)
SESSION_STARTED_METADATA_SLOT = "session_started_metadata"


def _candidate_tokens(tracker: Tracker) -> Iterator[Any]:
    """The chat tokens on the tracker, session start first, then latest message."""
    for metadata in (
        tracker.get_slot(SESSION_STARTED_METADATA_SLOT),
        (tracker.latest_message or {}).get("metadata"),
    ):
        if isinstance(metadata, dict) and metadata.get(CHAT_TOKEN_KEY):
            yield metadata[CHAT_TOKEN_KEY]


def chat_identity(tracker: Tracker) -> Optional[ChatIdentity]:
    """The verified chatter of this conversation, or None if nobody is signed in.

    A token that is missing, expired, forged or for another audience counts as no
    identity; the reason is logged, never shown to the chatter.
    """
    secret = get_settings().chat_token_secret
    for token in _candidate_tokens(tracker):
        try:
            return verify_chat_token(secret, token)
        except InvalidChatToken as exc:
            logger.info(
                "Chat token rejected in conversation %s: %s", tracker.sender_id, exc
            )
    return None
