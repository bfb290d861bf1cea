"""What every channel does to an inbound message before Rasa sees it: cut and
clean the text, redact card and bank numbers, hold back chatters who send faster
than the bot can answer, and let Rasa work on a few messages at a time, in the
order they came.

Imported by the channels inside Rasa, and by tests; nothing of Rasa's.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import re
import traceback
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Optional, TypeVar

from common import channels as config
from common import settings as S
from common.identity import ChatIdentity, identity_key
from common.ratelimit import RateLimit, RateLimiter
from common.redaction import redact

T = TypeVar("T")

MAX_MESSAGE_CHARS = S.MAX_MESSAGE_CHARS.default  # the setting's default
MAX_BODY_BYTES = 256 * 1024  # a Slack event or Teams activity is a few kB
NOTICE_INTERVAL_SECONDS = 10.0  # at most one "slow down" reply per chatter per 10 s

# C0 controls but tab and newline, DEL, and the C1 controls: never meant as text,
# and PostgreSQL refuses NUL in text columns.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A surrogate code point on its own: JSON lets a client send one ("\\ud800"), and
# no encoder will store it.
_SURROGATE = re.compile("[\ud800-\udfff]")


logger = logging.getLogger(__name__)


def clean_text(text: str, max_chars: Optional[int] = None) -> str:
    """`text` safe to store: at most `max_chars` characters (MAX_MESSAGE_CHARS when
    not given), lone surrogates (malformed UTF-16 sent as JSON escapes) replaced
    with U+FFFD, control characters dropped, `\\r\\n` as `\\n`.

    Cut first, so that what follows (and Rasa's NLU) never reads more than
    `max_chars` of a message, however long it was.
    """
    limit = config.max_message_chars() if max_chars is None else max_chars
    text = text[: limit * 2]  # room for the CRLFs and controls dropped below
    text = _SURROGATE.sub("\ufffd", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)[:limit]


def inbound_text(text: str, max_chars: Optional[int] = None) -> str:
    """What a channel hands Rasa of a message: `clean_text`, then card and bank
    numbers redacted (so they never reach the tracker store, the broker or a log)."""
    return redact(clean_text(text, max_chars))


def chatter_key(identity: Optional[ChatIdentity], address: Optional[str] = None) -> str:
    """Whose message this is, for the rate limit: the verified identity (the same
    customer or staff member on every channel and socket), else the client address
    of an anonymous chatter."""
    if identity is not None:
        return f"id:{identity_key(identity)}"
    return f"address:{address or 'unknown'}"


def client_address(
    peer: Optional[str],
    forwarded_for: Optional[str],
    trusted: Iterable[config.Network],
) -> str:
    """The address of the client behind `peer` (the connection's own address).

    X-Forwarded-For is believed only when `peer` is a trusted proxy
    (TRUSTED_PROXIES), and then read from the right, skipping the trusted proxies
    it went through: the first untrusted address is the client. Anything to its
    left was written by the client itself and is ignored.
    """
    networks = list(trusted)

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    address = (peer or "").strip()
    if not address or not networks or not is_trusted(address):
        return address or "unknown"
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return address  # a malformed hop: the proxy is all we know
        address = hop
    return address


def header(headers: Mapping[str, Any], name: str) -> Optional[str]:
    value = headers.get(name)
    return value if isinstance(value, str) else None


def log_failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    """Log a failure while handling a message without the message: the exception's
    type and where it was raised, not its text (which may quote the message)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(
        f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
        for frame in reversed(frames[-6:])
    )
    log.error("%s: %s at %s", what, type(exc).__name__, where or "?")


class ChatterLimiter:
    """The chat rate limit (`RateLimiter`, in Redis when REDIS_URL is set, so every
    Rasa replica counts the same messages), and when to tell a chatter to slow down.

    `admit(key)` says whether a message goes on to Rasa; for one that does not,
    `should_notify(key)` says whether to answer it with `config.RATE_LIMITED_TEXT`
    (the first time, then at most every `NOTICE_INTERVAL_SECONDS`, so a flood does
    not become a flood of replies). Keys come from `chatter_key`.
    """

    def __init__(
        self,
        limit: Optional[RateLimit] = None,
        *,
        storage_url: Optional[str] = None,
        prefix: Optional[str] = None,
    ) -> None:
        url, shared_prefix = config.shared_redis()
        storage = url if storage_url is None else storage_url
        prefix = shared_prefix if prefix is None else prefix
        self.limiter = RateLimiter(
            limit or config.chat_rate_limit(),
            storage_url=storage,
            prefix=prefix,
            namespace="chat",
        )
        self._notified = RateLimiter(
            RateLimit(messages=1, period_seconds=NOTICE_INTERVAL_SECONDS, burst=1),
            storage_url=storage,
            prefix=prefix,
            namespace="chat-notice",
        )

    def admit(self, key: str) -> bool:
        return self.limiter.allow(key)

    def should_notify(self, key: str) -> bool:
        return self._notified.allow(key)


class _Slots:
    """A counting semaphore that hands a freed slot straight to the longest waiter,
    and lets a message coming back from a network call go first (`front`)."""

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, front: bool = False) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        if front:
            self.waiters.appendleft(waiter)
        else:
            self.waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as it was cancelled
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; `free` is unchanged
                return
        self.free += 1


@dataclass
class _Turn:
    """One message's place at the gate: whether it holds a slot right now."""

    slots: _Slots
    holding: bool = False


_turn: ContextVar[Optional[_Turn]] = ContextVar("csp_message_turn", default=None)


class _LoopGate:
    def __init__(self, limit: int) -> None:
        self.slots = _Slots(limit)
        self.conversations: dict[str, asyncio.Lock] = {}
        self.queued: dict[str, int] = {}


class MessageGate:
    """At most `limit` messages worked on at once in this process, the others in
    the order they arrived; one message at a time per conversation (`limit` 0: no
    gate).

    Rasa's event loop interleaves every message it has been handed. Given fifty at
    once, each waits for the CPU of all the others, they all finish together, and
    the chatters' next messages come back together: conversations fall into step
    and every reply waits for a whole wave. Taken in turn, the first message in is
    the first answered, the replies spread out and so do the next messages.

    A message gives its slot up while it waits on another server (`released`: the
    action server, Slack's or Teams' API) and gets it back ahead of the queue, so a
    slow action holds up its own conversation only. A conversation's next message
    waits outside the gate until the one before is answered, rather than in a slot
    waiting for Rasa's lock on the conversation. Measured in docs/production.md.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopGate] = (
            weakref.WeakKeyDictionary()
        )

    def _state(self) -> _LoopGate:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopGate(self.limit)
        return state

    def waiting(self) -> int:
        """Messages waiting for a slot on the running loop."""
        state = self._loops.get(asyncio.get_running_loop())
        if state is None:
            return 0
        return sum(1 for waiter in state.slots.waiters if not waiter.done())

    async def run(self, conversation: str, work: Awaitable[T]) -> T:
        """Await `work`, the handling of a message of `conversation`, in its turn."""
        if self.limit <= 0:
            return await work
        state = self._state()
        lock = state.conversations.setdefault(conversation, asyncio.Lock())
        state.queued[conversation] = state.queued.get(conversation, 0) + 1
        turn = _Turn(state.slots)
        started = False
        try:
            async with lock:  # asyncio.Lock: first come, first served
                await state.slots.acquire()
                turn.holding = started = True
                token = _turn.set(turn)
                try:
                    return await work
                finally:
                    _turn.reset(token)
                    if turn.holding:
                        turn.holding = False
                        state.slots.release()
        except asyncio.CancelledError:
            if not started and inspect.iscoroutine(work):
                work.close()  # cancelled in the queue: it never started
            raise
        finally:
            state.queued[conversation] -= 1
            if not state.queued[conversation]:
                del state.queued[conversation]
                del state.conversations[conversation]

    @staticmethod
    @asynccontextmanager
    async def released() -> AsyncIterator[None]:
        """Give up this message's slot for the block (a call to another server);
        take it back, ahead of the queue, after it."""
        turn = _turn.get()
        if turn is None or not turn.holding:
            yield
            return
        turn.holding = False
        turn.slots.release()
        try:
            yield
        finally:
            await turn.slots.acquire(front=True)
            turn.holding = True


_gate: Optional[MessageGate] = None


def message_gate() -> MessageGate:
    """The process's one gate (RASA_MAX_CONCURRENT_MESSAGES), shared by every
    channel: they all share one Rasa."""
    global _gate
    if _gate is None:
        _gate = MessageGate(config.max_concurrent_messages())
    return _gate
