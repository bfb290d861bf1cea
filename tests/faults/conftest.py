"""Fault tests: the real stack (tests/e2e/stack.py) with a fault-injecting
proxy between Rasa and the action server (tests/faults/proxy.py), the Slack channel
on (its Web API faked), and, for the store tests, Rasa replicas on a scratch
PostgreSQL database and Redis (tests/faults/replicas.py).

    RASA_MODEL=/tmp/fault-model.tar.gz .venv/bin/pytest tests/faults
    .venv/bin/pytest -m "not faults"      # everything else

Every test here is marked `faults` and `e2e`: they break things on purpose, some
of them services this machine shares (PostgreSQL and Redis restarts, always brought
back in `finally`).
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.domain.db import make_engine
from api.domain.models import Customer, Ticket
from common.identity import mint_customer_token
from tests.e2e.stack import ROOT, Stack, free_port, start_stack, stop_stack
from tests.e2e.test_escalation import OUTLOOK_ANSWERS, answer_for
from tests.faults.proxy import FaultProxy, start_proxy

# Rasa gives up on an action call after this long (bot/action_guard.py).
ACTION_TIMEOUT_SECONDS = 4
MAX_FORM_TURNS = 14
CONFIRM_QUESTION = "shall i file"
UNAVAILABLE = "can't reach the billing system right now"


@dataclass
class SlackFake:
    """Slack's Web API (chat.postMessage), recording what the bot posts."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FaultStack:
    stack: Stack
    proxy: FaultProxy
    slack: SlackFake
    db: Engine

    def customer_metadata(self, domain: str = "contoso.com") -> dict[str, str]:
        with Session(self.db) as session:
            tenant_id = session.scalars(
                select(Customer.tenant_id).where(Customer.domain == domain)
            ).one()
        token = mint_customer_token(
            self.stack.env["CHAT_TOKEN_SECRET"],
            tenant_id=tenant_id,
            user_id=f"alex@{domain}",
            name="Alex",
        )
        return {"chat_token": token}

    def tracker(self, sender: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.stack.rasa_url}/conversations/{sender}/tracker",
            params={
                "token": self.stack.env["RASA_AUTH_TOKEN"],
                "include_events": "ALL",
            },
            timeout=30,
        )
        response.raise_for_status()
        return dict(response.json())

    def tickets(self, conversation_id: str) -> list[Ticket]:
        with Session(self.db, expire_on_commit=False) as session:
            return list(
                session.scalars(
                    select(Ticket).where(Ticket.conversation_id == conversation_id)
                )
            )


@pytest.fixture(scope="package")
def slack_fake() -> Iterator[SlackFake]:
    state = SlackFake()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"raw": raw.decode(errors="replace")}
            state.posts.append({"path": self.path, "body": body})
            answer = json.dumps({"ok": True, "ts": f"{len(state.posts)}.0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="package")
def fault_stack(
    tmp_path_factory: pytest.TempPathFactory, slack_fake: SlackFake
) -> Iterator[FaultStack]:
    """The product with Rasa calling the action server through a FaultProxy."""
    workdir = tmp_path_factory.mktemp("faults")
    action_port = free_port()
    proxy = start_proxy(f"http://127.0.0.1:{action_port}", free_port())
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        (ROOT / "endpoints.yml")
        .read_text()
        .replace("${ACTION_SERVER_URL}/webhook", f"{proxy.url}/webhook")
    )
    try:
        stack = start_stack(
            workdir,
            extra_env={
                "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}",
                "RASA_ENDPOINTS": str(endpoints),
                "ACTION_SERVER_TIMEOUT_SECONDS": str(ACTION_TIMEOUT_SECONDS),
                "SLACK_BOT_TOKEN": "xoxb-faults",
                "SLACK_SIGNING_SECRET": secrets.token_hex(16),
                "SLACK_API_BASE_URL": f"{slack_fake.url}/api/",
                # These tests type faster than a person (9 messages in a few
                # seconds from one chatter); the per-chatter limit (burst 8) is
                # tested in tests/security and tests/bot/channels.
                "CHAT_RATE_LIMIT_MESSAGES": "1000",
                "CHAT_RATE_LIMIT_BURST": "1000",
            },
        )
    except BaseException:
        proxy.close()
        raise
    engine = make_engine(stack.env["DATABASE_URL"])
    try:
        yield FaultStack(stack=stack, proxy=proxy, slack=slack_fake, db=engine)
    finally:
        engine.dispose()
        stop_stack(stack)
        proxy.close()


@pytest.fixture
def faults(fault_stack: FaultStack) -> Iterator[FaultStack]:
    """The fault stack, with the proxy passing calls through before and after."""
    fault_stack.proxy.up()
    try:
        yield fault_stack
    finally:
        fault_stack.proxy.up()


# --------------------------------------------------------------------------- talk

Say = Callable[[str], list[dict]]


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def new_sender(prefix: str = "fault") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def to_the_confirmation(
    say: Say, answers: Optional[dict[str, str]] = None
) -> list[dict]:
    """From a fresh signed-in conversation to "Shall I file it?" of a ticket about
    Outlook; the bot's last replies."""
    answers = answers or OUTLOOK_ANSWERS
    replies = say("Outlook is down for everyone since this morning")
    assert "Did that solve it?" in texts(replies), texts(replies)
    replies = say("/deny")
    for _ in range(MAX_FORM_TURNS):
        question = replies[-1].get("text", "") if replies else ""
        if CONFIRM_QUESTION in question.lower():
            return replies
        answer = answer_for(question, answers)
        assert answer is not None, f"unexpected question:\n{texts(replies)}"
        replies = say(answer)
    raise AssertionError(f"the form did not reach its confirmation:\n{texts(replies)}")


def user_texts(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("text") or "" for e in events if e.get("event") == "user"]
