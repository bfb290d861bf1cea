"""What every channel does to an inbound message before Rasa sees it: clean the
text, and hold back chatters who send faster than the bot can answer.

Standard library only (imported by the channels inside Rasa, and by tests).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Optional

from api.ratelimit import RateLimit, RateLimiter
from bot.channels import config

MAX_MESSAGE_CHARS = 4000
MAX_BODY_BYTES = 256 * 1024  # a Slack event or Teams activity is a few kB
NOTICE_INTERVAL_SECONDS = 10.0  # at most one "slow down" reply per chatter per 10 s

# C0 controls but tab and newline, DEL, and the C1 controls: never meant as text,
# and PostgreSQL refuses NUL in text columns.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A surrogate code point on its own: JSON lets a client send one ("\\ud800"), and
# no encoder will store it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """`text` safe to store: lone surrogates (malformed UTF-16 sent as JSON
    escapes) replaced with U+FFFD, control characters dropped, `\\r\\n` as `\\n`,
    at most `max_chars` characters."""
    text = _SURROGATE.sub("\ufffd", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)[:max_chars]


class ChatterLimiter:
    """Token buckets per chatter (`RateLimiter`), and when to tell them to slow down.

    `admit(key)` says whether a message goes on to Rasa; for one that does not,
    `should_notify(key)` says whether to answer it with `config.RATE_LIMITED_TEXT`
    (the first time, then at most every `NOTICE_INTERVAL_SECONDS`, so a flood does
    not become a flood of replies).
    """

    def __init__(
        self,
        limit: Optional[RateLimit] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = RateLimiter(limit or config.chat_rate_limit(), clock=clock)
        self._notified = RateLimiter(
            RateLimit(messages=1, period_seconds=NOTICE_INTERVAL_SECONDS, burst=1),
            clock=clock,
        )

    def admit(self, key: str) -> bool:
        return self.limiter.allow(key)

    def should_notify(self, key: str) -> bool:
        return self._notified.allow(key)
