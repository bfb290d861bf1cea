"""A webhook consumer for the tests: a real HTTP server on 127.0.0.1 that does what
docs/helpdesk-webhooks.md asks of a helpdesk. It verifies each request's Standard
Webhooks signature with the specification's own library, and processes each
`webhook-id` once, acknowledging (2xx) repeats without processing them again.

Scripts make it misbehave: answer a status first (`script`), or hold a request
after processing it (`hold_after`) so that the sender can be killed mid-delivery.

Also here: a partner with a webhook endpoint, and a database on SQLite or
PostgreSQL for the outbox tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from sqlalchemy.orm import Session
from standardwebhooks import Webhook, WebhookVerificationError

from api.domain.models import BillingModel, Partner, utcnow

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the specification's test secret
SECRET_ENV = "TEST_HELPDESK_WEBHOOK_SECRET"


@dataclass
class Received:
    message_id: str
    timestamp: str
    body: dict[str, Any]
    at: float


@dataclass
class Consumer:
    """What the consumer saw; configure its behaviour before requests arrive."""

    secret: str = SECRET
    # Status codes to answer, in order, before answering 200 (per webhook-id).
    script: list[int] = field(default_factory=list)
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Hold the Nth request (1-based) after processing it, until `release` is set.
    hold_after: Optional[int] = None
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    processed: Counter[str] = field(default_factory=Counter)
    bad_signatures: int = 0
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: Counter[str] = field(default_factory=Counter)  # per id, for `script`
    url: str = ""

    def handle(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str]]:
        try:
            Webhook(self.secret).verify(raw, headers)
        except WebhookVerificationError:
            with self.lock:
                self.bad_signatures += 1
            return 401, {}
        message_id = headers["webhook-id"]
        with self.lock:
            self.requests.append(
                Received(
                    message_id=message_id,
                    timestamp=headers["webhook-timestamp"],
                    body=json.loads(raw),
                    at=time.monotonic(),
                )
            )
            number = len(self.requests)
            answered = self.answered[message_id]
            self.answered[message_id] += 1
            if answered < len(self.script):
                return self.script[answered], dict(self.extra_headers)
            # Dedupe by webhook-id: a repeat is acknowledged, not processed again.
            if message_id not in self.processed:
                self.processed[message_id] += 1
        if self.delay:
            time.sleep(self.delay)
        if self.hold_after == number:
            self.holding.set()
            self.release.wait(30)
        return 200, {}

    def ids_received(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.requests]


@contextmanager
def running(consumer: Consumer) -> Iterator[Consumer]:
    """Serve `consumer` on a free port of 127.0.0.1 until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            code, extra = consumer.handle(headers, raw)
            try:
                self.send_response(code)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:  # the sender was killed while we held its request
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    consumer.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield consumer
    finally:
        consumer.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def make_partner(
    session: Session,
    slug: str,
    *,
    endpoints: Optional[list[dict[str, Any]]] = None,
) -> Partner:
    """A partner with only what a ticket needs, and the given webhook endpoints."""
    partner = Partner(
        slug=slug,
        name=f"{slug.title()} Ltd",
        mpn_id=str(abs(hash(slug)) % 10**9),
        billing_model=BillingModel.DIRECT,
        country="GB",
        currency="GBP",
        timezone="UTC",
        support_offer="We help.",
        support_hours="Always",
        support_contact_method="e-mail",
        support_email=f"help@{slug}.example",
        support_phone=None,
        support_pricing="Free.",
        payment_terms_days=30,
        payment_methods=["transfer"],
        payment_instructions="",
        collections_policy="Reminders.",
        reminder_after_days=7,
        suspend_after_days_overdue=30,
        accepted_currencies=["GBP"],
        webhook_endpoints=endpoints or [],
    )
    session.add(partner)
    session.flush()
    return partner


def endpoint(url: str, *, name: str = "helpdesk", **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "secret_env": SECRET_ENV, **extra}


def wait_for(
    condition: Callable[[], bool], *, timeout: float = 30.0, every: float = 0.1
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def now_iso() -> str:
    return utcnow().isoformat()
