"""The human agent's seat against the real stack, in Debian's Chromium: a customer
in the widget and an agent in the dashboard (two browser contexts), and staff
replying from the Slack and Teams threads of the hand-off notice (the local fakes
of tests/channels/fakes.py).

Screenshots go to test-artifacts/channels/ (git-ignored)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.db import make_engine
from api.domain.models import Customer, Handoff, Partner, PartnerUser
from api.domain.services.billing import latest_invoice
from api.domain.services.permissions import permission_table
from tests.channels.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    needs_chromium,
    screenshot_path,
)
from tests.channels.fakes import (
    TEAMS_APP_ID,
    TEAMS_TENANT_ID,
    ChannelStack,
    slack_signature,
    unique,
    wait_until,
)
from tests.channels.test_teams import token as teams_token
from tests.channels.test_widget_browser import (
    REPLY_TIMEOUT_MS,
    DemoCustomer,
    ask,
    bot_text,
    open_chat,
    sign_in,
)

pytestmark = [pytest.mark.e2e, needs_chromium]

AGENT_EMAIL, AGENT_PASSWORD, AGENT_NAME = (
    "agent@demo.local",
    "demo-agent-password",
    "Sam Rivera",
)
# Said whether the desk is open or closed (then with when it opens).
HANDED_OVER = "handing this conversation to a person"


@pytest.fixture(scope="module")
def browser(channel_stack: ChannelStack) -> Iterator[Browser]:
    """Debian's Chromium (never a downloaded browser)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def customer_context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    yield ctx
    ctx.close()


@pytest.fixture
def agent_context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


def db(channels: ChannelStack) -> Session:
    return Session(make_engine(channels.env["DATABASE_URL"]))


def northwind_customers(channels: ChannelStack) -> list[DemoCustomer]:
    """Customers of Northwind (its profile names a Slack and a Teams channel)."""
    with db(channels) as session:
        found = []
        for customer in session.scalars(
            select(Customer)
            .join(Partner, Partner.id == Customer.partner_id)
            .where(Partner.slug == "northwind")
            .order_by(Customer.id)
        ):
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
    assert len(found) >= 3, "the test needs three Northwind customers with invoices"
    return found


def northwind_staff(channels: ChannelStack, platform: str) -> PartnerUser:
    """An active Northwind partner user who may answer chats, with an id on
    `platform`."""
    table = permission_table()
    with db(channels) as session:
        column = (
            PartnerUser.slack_user_id
            if platform == "slack"
            else PartnerUser.aad_object_id
        )
        for user in session.scalars(
            select(PartnerUser)
            .join(Partner, Partner.id == PartnerUser.partner_id)
            .where(Partner.slug == "northwind", column.is_not(None))
        ):
            if user.active and table.can(user.role.value, "view_tickets"):
                session.expunge(user)
                return user
    raise AssertionError(f"no Northwind staff on {platform} who may answer chats")


def handoff_of(channels: ChannelStack, conversation_id: str) -> Handoff:
    with db(channels) as session:
        found = session.scalars(
            select(Handoff).where(Handoff.conversation_id == conversation_id)
        ).first()
        assert found is not None, f"no hand-off for {conversation_id}"
        session.expunge(found)
        return found


def ask_for_a_person(page: Page, channels: ChannelStack) -> str:
    ask(page, "I want to talk to a person")
    expect(page.get_by_role("log")).to_contain_text(
        HANDED_OVER, timeout=REPLY_TIMEOUT_MS
    )
    return str(page.evaluate("window.CSPChat.sessionId"))


def log_text(page: Page) -> str:
    return page.get_by_role("log").inner_text()


# --------------------------------------------------------------------------- dashboard


def test_an_agent_claims_in_the_dashboard_replies_and_hands_back(
    channel_stack: ChannelStack,
    customer_context: BrowserContext,
    agent_context: BrowserContext,
) -> None:
    customer = northwind_customers(channel_stack)[0]
    chat = customer_context.new_page()
    sign_in(chat, channel_stack, customer)
    open_chat(chat)

    # The agent signs in first and watches the inbox.
    desk = agent_context.new_page()
    desk.goto(f"{channel_stack.api_url}/dashboard/login")
    desk.get_by_label("E-mail").fill(AGENT_EMAIL)
    desk.get_by_label("Password").fill(AGENT_PASSWORD)
    desk.get_by_role("button", name="Sign in").click()
    expect(desk).to_have_url(f"{channel_stack.api_url}/dashboard/inbox")
    assert wait_until(
        lambda: desk.evaluate("document.documentElement.dataset.inbox") == "live",
        timeout=30,
    )

    conversation = ask_for_a_person(chat, channel_stack)
    handoff = handoff_of(channel_stack, conversation)
    # The widget shows that the chat waits for a person (the desk's hours decide
    # whether it also says when the desk opens).
    banner = chat.locator(".handoff")
    expect(banner).to_contain_text("support desk", timeout=30_000)
    expect(banner).to_have_attribute("role", "status")
    # The inbox shows it without a reload (server-sent events).
    row = desk.locator(f'tr[data-handoff="{handoff.id}"]')
    expect(row).to_contain_text(customer.name, timeout=30_000)
    expect(row).to_contain_text("waiting")
    desk.screenshot(path=screenshot_path("seat-inbox"))

    row.get_by_role("button", name="Claim").click()
    expect(desk).to_have_url(f"{channel_stack.api_url}/dashboard/handoffs/{handoff.id}")
    expect(desk.locator("#handoff-status")).to_contain_text(f"with {AGENT_NAME}")
    expect(desk.get_by_role("complementary", name="Billing context")).to_contain_text(
        customer.invoice_number
    )
    expect(chat.get_by_role("log")).to_contain_text(
        f"{AGENT_NAME} from Northwind", timeout=30_000
    )
    expect(banner.locator(".handoff-text")).to_have_text(
        f"You're chatting with {AGENT_NAME}."
    )

    # The customer closes the window; the agent's reply shows on the launcher.
    chat.keyboard.press("Escape")
    reply = desk.get_by_label("Reply to the customer")
    reply.fill("Hi, I'm Sam. I can see your account; what can I do?")
    reply.press("Enter")
    badge = chat.locator(".launcher .badge")
    expect(badge).to_have_text("1", timeout=30_000)
    assert wait_until(lambda: chat.title().startswith("(1) "), timeout=10)
    open_chat(chat)
    expect(badge).to_be_hidden()
    expect(chat.get_by_role("log")).to_contain_text(
        "I can see your account; what can I do?", timeout=30_000
    )
    # Under the agent's name, in the agent's bubble.
    agent_row = chat.locator(".msg.agent:not(.notice)").last
    expect(agent_row.locator(".name")).to_have_text(AGENT_NAME)
    expect(agent_row.locator(".bubble")).to_contain_text("I can see your account")
    chat.screenshot(path=screenshot_path("seat-customer-sees-agent"))
    # Named: the payload the widget got carries the agent's name.
    messages = chat.evaluate(
        "(JSON.parse(sessionStorage.getItem('cspchat:v1') || '{}').messages) || []"
    )
    assert any(
        m.get("from") == "agent" and m.get("name") == AGENT_NAME
        for m in messages
        if isinstance(m, dict)
    ), messages

    ask(chat, "Why was I charged twice in October?")
    lines = desk.locator("#chat-lines")
    expect(lines).to_contain_text("Why was I charged twice in October?", timeout=30_000)
    desk.screenshot(path=screenshot_path("seat-agent-chat"))

    desk.get_by_role("button", name="Hand back to the assistant").click()
    expect(desk).to_have_url(f"{channel_stack.api_url}/dashboard/inbox?notice=released")
    expect(chat.get_by_role("log")).to_contain_text(
        "back with the assistant", timeout=30_000
    )
    expect(banner).to_be_hidden()
    ask(chat, "can you show me my latest invoice?")
    assert wait_until(
        lambda: (
            customer.invoice_number
            in bot_text(chat).split("back with the assistant")[-1]
        ),
        timeout=REPLY_TIMEOUT_MS / 1000,
    ), log_text(chat)
    chat.screenshot(path=screenshot_path("seat-bot-again"))


# --------------------------------------------------------------------------- Slack


def slack_event(channel: str, thread_ts: str, user: str, text: str) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": "TPARTNER",
        "api_app_id": "AAPP",
        "event_id": unique("Ev"),
        "event_time": int(time.time()),
        "authorizations": [{"user_id": "UBILLINGBOT", "is_bot": True}],
        "event": {
            "type": "message",
            "channel_type": "channel",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": f"{time.time():.6f}",
            "thread_ts": thread_ts,
        },
    }


def post_slack(channels: ChannelStack, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    return httpx.post(
        f"{channels.rasa_url}/webhooks/slack/webhook",
        content=body,
        headers={
            "content-type": "application/json",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": slack_signature(
                channels.env["SLACK_SIGNING_SECRET"], ts, body
            ),
        },
        timeout=30,
    )


def test_a_slack_thread_reply_reaches_the_widget_and_the_answer_comes_back(
    channel_stack: ChannelStack, customer_context: BrowserContext
) -> None:
    customer = northwind_customers(channel_stack)[1]
    staff = northwind_staff(channel_stack, "slack")
    chat = customer_context.new_page()
    sign_in(chat, channel_stack, customer)
    open_chat(chat)
    conversation = ask_for_a_person(chat, channel_stack)
    assert wait_until(
        lambda: handoff_of(channel_stack, conversation).slack_thread_ts, timeout=30
    )
    handoff = handoff_of(channel_stack, conversation)
    notice = next(
        p for p in channel_stack.slack.posts if p.get("_ts") == handoff.slack_thread_ts
    )
    assert notice["channel"] == handoff.slack_channel == "C0NWBILLING"

    sent = post_slack(
        channel_stack,
        slack_event(
            handoff.slack_channel,
            handoff.slack_thread_ts,
            str(staff.slack_user_id),
            "Hello from the Northwind desk on Slack.",
        ),
    )
    assert sent.status_code == 200
    expect(chat.get_by_role("log")).to_contain_text(
        "Hello from the Northwind desk on Slack.", timeout=30_000
    )
    expect(chat.get_by_role("log")).to_contain_text(staff.name)

    ask(chat, "Thanks! It is about my October invoice.")
    assert wait_until(
        lambda: any(
            "It is about my October invoice." in str(p.get("text"))
            for p in channel_stack.slack.posts_in_thread(str(handoff.slack_thread_ts))
        ),
        timeout=30,
    ), channel_stack.slack.posts_in_thread(str(handoff.slack_thread_ts))
    # The bot stayed quiet: the staff member has the chat.
    assert "It is about my October invoice." not in bot_text(chat)
    chat.screenshot(path=screenshot_path("seat-slack-reply"))


# --------------------------------------------------------------------------- Teams


def test_a_teams_thread_reply_reaches_the_widget_and_the_answer_comes_back(
    channel_stack: ChannelStack, customer_context: BrowserContext
) -> None:
    customer = northwind_customers(channel_stack)[2]
    staff = northwind_staff(channel_stack, "teams")
    fake = channel_stack.teams
    chat = customer_context.new_page()
    sign_in(chat, channel_stack, customer)
    open_chat(chat)
    conversation = ask_for_a_person(chat, channel_stack)
    assert wait_until(
        lambda: handoff_of(channel_stack, conversation).teams_thread_id, timeout=30
    )
    handoff = handoff_of(channel_stack, conversation)
    created = next(c for c in fake.created if c["thread"] == handoff.teams_thread_id)
    assert created["authorization"] == "Bearer fake-out"
    assert customer.name in created["body"]["activity"]["text"]

    message = {
        "type": "message",
        "id": unique("1700000001"),
        "channelId": "msteams",
        "serviceUrl": fake.service_url,
        "from": {
            "id": "29:staff",
            "name": staff.name,
            "aadObjectId": staff.aad_object_id,
        },
        "recipient": {"id": f"28:{TEAMS_APP_ID}", "name": "Billing desk"},
        "conversation": {
            "id": handoff.teams_thread_id,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TEAMS_TENANT_ID,
        },
        "channelData": {"tenant": {"id": TEAMS_TENANT_ID}},
        "text": "<at>Billing desk</at> Hello from the Northwind desk on Teams.",
        "textFormat": "plain",
    }
    sent = httpx.post(
        f"{channel_stack.rasa_url}/webhooks/teams/webhook",
        json=message,
        headers={
            "Authorization": f"Bearer {teams_token(channel_stack.keys, fake.service_url)}"
        },
        timeout=30,
    )
    assert sent.status_code == 200
    expect(chat.get_by_role("log")).to_contain_text(
        "Hello from the Northwind desk on Teams.", timeout=30_000
    )
    # Not answered by the bot in Teams: the reply went to the customer only.
    assert fake.replies_to(message["id"]) == []

    ask(chat, "Great, I'm here.")
    assert wait_until(
        lambda: any(
            "Great, I'm here." in str(p["body"].get("text"))
            for p in fake.thread_posts
            if p["conversation"] == handoff.teams_thread_id
        ),
        timeout=30,
    ), fake.thread_posts
    chat.screenshot(path=screenshot_path("seat-teams-reply"))
