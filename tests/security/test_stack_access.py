"""Against the real stack (tests/e2e/stack.py, started as `make run` starts it): Rasa's
HTTP API and the action server answer nothing without their tokens; the widget
channel keeps one customer out of another's invoices and holds back a chatter over
the rate limit (set low here through the environment, as an operator would).

tests/e2e/test_conversation.py checks one endpoint of each with a token; this is the
whole surface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Optional

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.db import make_engine
from api.domain.models import Customer
from api.domain.services.billing import latest_invoice
from common.channels import RATE_LIMITED_TEXT
from common.identity import mint_customer_token
from tests.e2e.stack import Stack, start_stack, stop_stack
from tests.production.widget_client import WidgetChat

pytestmark = pytest.mark.e2e

BURST = 2  # messages a conversation may send before the limit bites

# Rasa's HTTP API (3.6): method, path, body. Each one needs ?token=.
RASA_API: list[tuple[str, str, Optional[dict[str, Any]]]] = [
    ("GET", "/status", None),
    ("GET", "/domain", None),
    ("POST", "/model/parse", {"text": "hello"}),
    ("PUT", "/model", {"model_file": "/etc/passwd"}),
    ("DELETE", "/model", None),
    ("POST", "/model/train", {}),
    ("POST", "/model/test/intents", {}),
    ("POST", "/model/test/stories", {}),
    ("POST", "/model/predict", {}),
    ("GET", "/conversations/victim/tracker", None),
    ("POST", "/conversations/victim/tracker/events", {"event": "pause"}),
    ("PUT", "/conversations/victim/tracker/events", []),
    ("GET", "/conversations/victim/story", None),
    ("POST", "/conversations/victim/execute", {"name": "action_listen"}),
    ("POST", "/conversations/victim/trigger_intent", {"name": "greet"}),
    ("POST", "/conversations/victim/predict", None),
    ("POST", "/conversations/victim/messages", {"text": "hi", "sender": "user"}),
]
# Open on purpose: liveness and the version, nothing about conversations.
RASA_OPEN = ["/", "/version"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("security-stack"),
        extra_env={
            "CHAT_RATE_LIMIT_MESSAGES": str(BURST),  # 2 per 10 minutes
            "CHAT_RATE_LIMIT_PERIOD_SECONDS": "600",
            "CHAT_RATE_LIMIT_BURST": str(BURST),
        },
    )
    yield running
    stop_stack(running)


@pytest.mark.parametrize(
    ("method", "path", "body"), RASA_API, ids=[f"{m} {p}" for m, p, _ in RASA_API]
)
def test_rasa_http_api_refuses_without_the_token(
    stack: Stack, method: str, path: str, body: Any
) -> None:
    url = f"{stack.rasa_url}{path}"
    for params in ({}, {"token": "wrong"}, {"token": ""}):
        reply = httpx.request(method, url, params=params, json=body, timeout=30)
        assert reply.status_code == 401, (params, reply.status_code, reply.text[:200])
    # A bearer header with the right token is not Rasa's token auth either.
    reply = httpx.request(
        method,
        url,
        json=body,
        headers={"Authorization": f"Bearer {stack.env['RASA_AUTH_TOKEN']}"},
        timeout=30,
    )
    assert reply.status_code == 401


def test_rasa_http_api_answers_with_the_token(stack: Stack) -> None:
    token = {"token": stack.env["RASA_AUTH_TOKEN"]}
    for path in ("/status", "/domain", "/conversations/victim/tracker"):
        reply = httpx.get(
            f"{stack.rasa_url}{path}",
            params=token,
            headers={"Accept": "application/json"},
            timeout=30,
        )
        assert reply.status_code == 200, (path, reply.text[:200])


@pytest.mark.parametrize("path", RASA_OPEN)
def test_only_liveness_and_version_are_open(stack: Stack, path: str) -> None:
    reply = httpx.get(f"{stack.rasa_url}{path}", timeout=30)
    assert reply.status_code == 200
    assert "tracker" not in reply.text and "events" not in reply.text


def test_the_action_server_refuses_without_the_token(stack: Stack) -> None:
    call = {
        "next_action": "action_invoice_lookup",
        "sender_id": "victim",
        "tracker": {"sender_id": "victim", "slots": {}, "events": []},
        "domain": {},
        "version": "3.6.21",
    }
    right = stack.env["ACTION_SERVER_TOKEN"]
    for params in ({}, {"token": "wrong"}, {"token": right + "x"}, {"token": ""}):
        webhook = httpx.post(
            f"{stack.action_url}/webhook", params=params, json=call, timeout=30
        )
        assert webhook.status_code == 401, (params, webhook.text[:200])
        assert "victim" not in webhook.text
        listing = httpx.get(f"{stack.action_url}/actions", params=params, timeout=30)
        assert listing.status_code == 401
    bearer = httpx.get(
        f"{stack.action_url}/actions",
        headers={"Authorization": f"Bearer {right}"},
        timeout=30,
    )
    assert bearer.status_code == 401
    assert httpx.get(f"{stack.action_url}/health", timeout=30).status_code == 200
    listing = httpx.get(
        f"{stack.action_url}/actions", params={"token": right}, timeout=30
    )
    assert listing.status_code == 200


def customer_token(
    stack: Stack, domain: str, user: str = "alex"
) -> tuple[str, str, str]:
    """A chat token for a demo customer; its latest invoice's number and total."""
    engine = make_engine(stack.env["DATABASE_URL"])
    try:
        with Session(engine) as session:
            customer = session.scalars(
                select(Customer).where(Customer.domain == domain)
            ).one()
            invoice = latest_invoice(session, customer_id=customer.id)
            assert invoice is not None
            token = mint_customer_token(
                stack.env["CHAT_TOKEN_SECRET"],
                tenant_id=customer.tenant_id,
                user_id=f"{user}@{domain}",
            )
            return token, invoice.number, f"{invoice.total:,.2f}"
    finally:
        engine.dispose()


def test_the_widget_keeps_customers_apart(stack: Stack) -> None:
    """Over socket.io, through Rasa and the action server: a customer's own invoice,
    and another customer's, asked for by number, is not found."""
    token, own_number, _ = customer_token(stack, "contoso.com")
    _, their_number, their_total = customer_token(stack, "woodgrovebank.com")

    async def run() -> list[str]:
        chat = WidgetChat(stack.rasa_url, token)
        await chat.connect()
        answers = []
        for text in ("show me my latest invoice", f"show me invoice {their_number}"):
            reply = await chat.say(text, timeout=60)
            assert reply.complete, text
            answers.append(" ".join(reply.texts))
        await chat.close()
        return answers

    own, theirs = asyncio.run(run())
    assert own_number in own, own
    # Their number is only echoed back as not found; nothing of theirs is shown.
    assert "can't find invoice" in theirs, theirs
    assert their_total not in theirs and "Woodgrove" not in theirs, theirs


def test_the_widget_holds_back_a_flood_before_rasa(stack: Stack) -> None:
    # A user of their own: the limit counts per signed-in customer, across tests.
    token, _, _ = customer_token(stack, "contoso.com", "flood")

    async def run() -> tuple[list[list[str]], str]:
        chat = WidgetChat(stack.rasa_url, token)
        session_id = await chat.connect()
        replies = []
        for i in range(BURST + 2):
            reply = await chat.say(f"hello number {i}", timeout=60)
            assert reply.complete
            replies.append(reply.texts)
        await chat.close()
        return replies, session_id

    replies, session_id = asyncio.run(run())
    assert all(RATE_LIMITED_TEXT not in texts for texts in replies[:BURST]), replies
    assert replies[BURST:] == [[RATE_LIMITED_TEXT]] * 2, replies
    # Rasa never saw the held-back messages.
    tracker = httpx.get(
        f"{stack.rasa_url}/conversations/{session_id}/tracker",
        params={"token": stack.env["RASA_AUTH_TOKEN"], "include_events": "ALL"},
        timeout=30,
    ).json()
    said = {e.get("text") for e in tracker["events"] if e["event"] == "user"}
    assert not said & {f"hello number {i}" for i in range(BURST, BURST + 2)}, said
