"""The web chat widget in real headless Chromium against the real stack: the demo
"Contoso portal" served by the API, a fake sign-in, a question about the latest
invoice answered from the database over socket.io, a dropped connection, a reload,
and a second customer who cannot get into the first one's conversation.

Screenshots go to test-artifacts/channels/ (git-ignored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.db import make_engine
from api.domain.models import Customer
from api.domain.services.billing import latest_invoice
from api.frontend import BUILD_COMMAND, SOCKET_IO_CLIENT
from tests.channels.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    needs_chromium,
    screenshot_path,
)
from tests.channels.fakes import ChannelStack, wait_until

pytestmark = [pytest.mark.e2e, needs_chromium]

REPLY_TIMEOUT_MS = 60_000
INVOICE_QUESTION = "can you show me my latest invoice?"


@dataclass(frozen=True)
class DemoCustomer:
    tenant_id: str
    name: str
    domain: str
    invoice_number: str


def customers_with_invoices(channels: ChannelStack) -> list[DemoCustomer]:
    """Demo customers and their latest invoice numbers, read from the stack's DB."""
    engine = make_engine(channels.env["DATABASE_URL"])
    found = []
    try:
        with Session(engine) as session:
            for customer in session.scalars(select(Customer).order_by(Customer.id)):
                invoice = latest_invoice(session, customer_id=customer.id)
                if invoice is not None:
                    found.append(
                        DemoCustomer(
                            customer.tenant_id,
                            customer.name,
                            customer.domain,
                            invoice.number,
                        )
                    )
    finally:
        engine.dispose()
    assert len(found) >= 2, "the demo data needs two customers with invoices"
    return found


@pytest.fixture(scope="module")
def browser(channel_stack: ChannelStack) -> Iterator[Any]:
    if not SOCKET_IO_CLIENT.exists():
        pytest.fail(f"the widget's socket.io client is not built: run {BUILD_COMMAND}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    yield ctx
    ctx.close()


def watch(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def sign_in(page: Page, channels: ChannelStack, customer: DemoCustomer) -> None:
    page.goto(f"{channels.api_url}/demo/portal")
    expect(page).to_have_title("Contoso portal")
    page.get_by_label("Demo customer").select_option(customer.tenant_id)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(customer.name)


def open_chat(page: Page) -> None:
    page.get_by_role("button", name="Open chat: Contoso billing help").click()
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    wait_js(page, "window.CSPChat && window.CSPChat.connected")


def wait_js(page: Page, expression: str, timeout: float = 30.0) -> None:
    """Wait until `expression` is truthy in the page. (Polled from here: the demo
    page's CSP forbids the eval that Playwright's wait_for_function polls with.)"""
    assert wait_until(lambda: page.evaluate(expression), timeout=timeout), expression


def ask(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def bot_text(page: Page) -> str:
    return " ".join(page.locator("#cspchat-host .msg.bot").all_inner_texts())


def test_customer_asks_for_the_latest_invoice_and_survives_a_dropped_connection(
    channel_stack: ChannelStack, context: BrowserContext
) -> None:
    customer = customers_with_invoices(channel_stack)[0]
    page = context.new_page()
    errors = watch(page)
    sign_in(page, channel_stack, customer)
    open_chat(page)
    log = page.get_by_role("log", name="Conversation")

    ask(page, INVOICE_QUESTION)
    expect(page.locator("#cspchat-host .typing")).to_be_visible()
    expect(log).to_contain_text(customer.invoice_number, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator("#cspchat-host .typing")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)
    session_id = page.evaluate("window.CSPChat.sessionId")
    page.screenshot(path=screenshot_path("widget-invoice-answer"))

    # The network drops; a question typed meanwhile waits in the outbox.
    context.set_offline(True)
    expect(page.locator("#cspchat-host .status")).to_contain_text(
        "Reconnecting", timeout=30_000
    )
    ask(page, "what is my latest invoice?")
    expect(page.locator("#cspchat-host .status")).to_contain_text("Offline")
    page.screenshot(path=screenshot_path("widget-offline"))
    context.set_offline(False)

    # Back online: same session, the queued question is answered, history intact.
    wait_js(page, "window.CSPChat.connected")
    assert page.evaluate("window.CSPChat.sessionId") == session_id
    expect(log).to_contain_text("what is my latest invoice?")
    assert wait_until(
        lambda: bot_text(page).count(customer.invoice_number) >= 2,
        timeout=REPLY_TIMEOUT_MS / 1000,
    ), bot_text(page)
    expect(log).to_contain_text(INVOICE_QUESTION)
    page.screenshot(path=screenshot_path("widget-after-reconnect"))

    # A reload keeps the conversation (sessionStorage + the server's history).
    page.reload()
    wait_js(page, "window.CSPChat && window.CSPChat.connected")
    assert page.evaluate("window.CSPChat.sessionId") == session_id
    expect(page.get_by_role("dialog", name="Contoso billing help")).to_be_visible()
    expect(log).to_contain_text(customer.invoice_number)
    expect(log).to_contain_text(INVOICE_QUESTION)

    # Keyboard: Escape closes and gives the focus back to the launcher.
    page.get_by_role("textbox", name="Message").press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(
        page.get_by_role("button", name="Open chat: Contoso billing help")
    ).to_be_focused()
    assert errors == [], errors


def test_another_customer_cannot_join_that_conversation(
    channel_stack: ChannelStack, browser: Any
) -> None:
    first, second = customers_with_invoices(channel_stack)[:2]
    alice_context = browser.new_context()
    mallory_context = browser.new_context()
    try:
        alice = alice_context.new_page()
        sign_in(alice, channel_stack, first)
        open_chat(alice)
        ask(alice, INVOICE_QUESTION)
        expect(alice.get_by_role("log")).to_contain_text(
            first.invoice_number, timeout=REPLY_TIMEOUT_MS
        )
        alice_session = alice.evaluate("window.CSPChat.sessionId")

        # Mallory, signed in as another customer, plants Alice's session id in her
        # own sessionStorage before the widget loads.
        planted = {"sessionId": alice_session, "messages": [], "open": True}
        mallory_context.add_init_script(
            "window.sessionStorage.setItem('cspchat:v1', JSON.stringify("
            f"{json.dumps(planted)}))"
        )
        mallory = mallory_context.new_page()
        sign_in(mallory, channel_stack, second)
        wait_js(mallory, "window.CSPChat && window.CSPChat.connected")
        assert mallory.evaluate("window.CSPChat.sessionId") != alice_session
        ask(mallory, INVOICE_QUESTION)
        log = mallory.get_by_role("log")
        expect(log).to_contain_text(second.invoice_number, timeout=REPLY_TIMEOUT_MS)
        assert first.invoice_number not in bot_text(mallory)
        # And nothing of Mallory's reached Alice's window.
        alice.wait_for_timeout(1000)
        assert second.invoice_number not in bot_text(alice)
    finally:
        alice_context.close()
        mallory_context.close()


def test_without_sign_in_the_bot_asks_to_sign_in(
    channel_stack: ChannelStack, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{channel_stack.api_url}/demo/portal")
    open_chat(page)
    ask(page, "show me my latest invoice")
    expect(page.get_by_role("log")).to_contain_text("sign in", timeout=REPLY_TIMEOUT_MS)
    page.screenshot(path=screenshot_path("widget-anonymous"))


def test_escalation_to_a_person_and_back(
    channel_stack: ChannelStack, context: BrowserContext
) -> None:
    """Human handoff through the widget (docs/escalation.md): the customer asks for a
    person; the partner's Slack channel is told; an agent's answer, sent through the
    API, is pushed into the open widget over socket.io; the agent hands back and the
    bot answers again."""
    customer = customers_with_invoices(channel_stack)[0]
    slack_channel = partner_slack_channel(channel_stack, customer)
    page = context.new_page()
    sign_in(page, channel_stack, customer)
    open_chat(page)
    log = page.get_by_role("log")
    posts_before = len(channel_stack.slack.posts)

    ask(page, "I want to talk to a person")
    expect(log).to_contain_text(
        "handing this conversation to a person", timeout=REPLY_TIMEOUT_MS
    )
    conversation = page.evaluate("window.CSPChat.sessionId")
    if slack_channel:
        assert wait_until(
            lambda: any(
                p.get("channel") == slack_channel
                for p in channel_stack.slack.posts[posts_before:]
            ),
            timeout=30,
        ), channel_stack.slack.posts[posts_before:]

    # Paused: the bot stays quiet while the customer waits.
    ask(page, "hello?")
    page.wait_for_timeout(3000)
    assert "hello?" in page.get_by_role("log").inner_text()

    service = {"Authorization": f"Bearer {channel_stack.env['API_SERVICE_TOKEN']}"}
    answer = httpx.post(
        f"{channel_stack.stack.api_url}/api/v1/handoff/{conversation}/messages",
        json={"text": "Hi, this is Sam from the billing desk.", "agent": "Sam"},
        headers=service,
        timeout=30,
    )
    assert answer.status_code in (200, 201, 202), answer.text
    expect(log).to_contain_text("this is Sam from the billing desk", timeout=30_000)
    page.screenshot(path=screenshot_path("widget-agent-answer"))

    resumed = httpx.post(
        f"{channel_stack.stack.api_url}/api/v1/handoff/{conversation}/resume",
        headers=service,
        timeout=30,
    )
    assert resumed.status_code in (200, 201, 202), resumed.text
    expect(log).to_contain_text("back with the assistant", timeout=30_000)
    ask(page, INVOICE_QUESTION)
    assert wait_until(
        lambda: customer.invoice_number in bot_text(page),
        timeout=REPLY_TIMEOUT_MS / 1000,
    ), bot_text(page)


def partner_slack_channel(channels: ChannelStack, customer: DemoCustomer) -> str | None:
    """The Slack channel of the customer's partner, where handoffs are announced."""
    engine = make_engine(channels.env["DATABASE_URL"])
    try:
        with Session(engine) as session:
            row = session.scalars(
                select(Customer).where(Customer.tenant_id == customer.tenant_id)
            ).one()
            return row.partner.slack_channel_id
    finally:
        engine.dispose()
