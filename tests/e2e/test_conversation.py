"""End to end: the real Rasa, action server and API, started the way `make run`
starts them, and a conversation over HTTP about an invoice from the demo data."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.db import make_engine
from api.domain.models import Customer
from api.domain.services.billing import latest_invoice
from common.identity import mint_customer_token
from tests.e2e.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_stack(running)


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def demo_customer_with_invoice(stack: Stack) -> tuple[Customer, str, str]:
    """A demo customer, its latest invoice number and total, read from the DB."""
    engine = make_engine(stack.env["DATABASE_URL"])
    with Session(engine) as session:
        for customer in session.scalars(select(Customer).order_by(Customer.id)):
            invoice = latest_invoice(session, customer_id=customer.id)
            if invoice is not None:
                return customer, invoice.number, f"{invoice.total:,.2f}"
    raise AssertionError("the demo data has no invoice")


def test_api_health(stack: Stack) -> None:
    reply = httpx.get(f"{stack.api_url}/health", timeout=10)
    assert reply.status_code == 200
    assert reply.json()["status"] == "ok"


def test_rasa_http_api_needs_the_token(stack: Stack) -> None:
    assert httpx.get(f"{stack.rasa_url}/status", timeout=10).status_code == 401
    wrong = httpx.get(f"{stack.rasa_url}/status", params={"token": "nope"}, timeout=10)
    assert wrong.status_code == 401
    right = httpx.get(
        f"{stack.rasa_url}/status",
        params={"token": stack.env["RASA_AUTH_TOKEN"]},
        timeout=10,
    )
    assert right.status_code == 200
    assert right.json()["model_file"].endswith("csp.tar.gz")


def test_action_server_needs_the_token(stack: Stack) -> None:
    call = {"next_action": "action_invoice_lookup", "tracker": {"sender_id": "x"}}
    anonymous = httpx.post(f"{stack.action_url}/webhook", json=call, timeout=10)
    assert anonymous.status_code == 401
    listing = httpx.get(
        f"{stack.action_url}/actions",
        params={"token": stack.env["ACTION_SERVER_TOKEN"]},
        timeout=10,
    )
    assert listing.status_code == 200
    assert {"name": "action_invoice_lookup"} in listing.json()


def test_customer_asks_for_the_latest_invoice(stack: Stack) -> None:
    customer, number, total = demo_customer_with_invoice(stack)
    token = mint_customer_token(
        stack.env["CHAT_TOKEN_SECRET"],
        tenant_id=customer.tenant_id,
        user_id=f"alex@{customer.domain}",
        name="Alex",
    )
    sender = f"e2e-{uuid.uuid4()}"
    greeting = stack.say(sender, "hello", {"chat_token": token})
    assert texts(greeting).strip(), "the bot did not answer the greeting"

    answer = texts(stack.say(sender, "can you show me my latest invoice?"))
    assert number in answer, answer
    assert total in answer, answer


def test_unidentified_chatter_is_told_to_sign_in(stack: Stack) -> None:
    answer = texts(stack.say(f"e2e-{uuid.uuid4()}", "show me my latest invoice"))
    assert "sign in" in answer.lower(), answer


def test_forged_token_is_not_trusted(stack: Stack) -> None:
    customer, number, _ = demo_customer_with_invoice(stack)
    forged = mint_customer_token(
        "not-the-real-secret-but-long-enough-for-hs256",
        tenant_id=customer.tenant_id,
        user_id="mallory",
    )
    sender = f"e2e-{uuid.uuid4()}"
    answer = texts(
        stack.say(sender, "my latest invoice please", {"chat_token": forged})
    )
    assert number not in answer
    assert "sign in" in answer.lower(), answer


def test_ctrl_c_stops_all_three(stack: Stack) -> None:
    ports = [
        urlsplit(stack.rasa_url).port,
        urlsplit(stack.action_url).port,
        int(stack.env["API_PORT"]),
    ]
    stop_stack(stack)
    assert stack.process is not None and stack.process.poll() is not None
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
