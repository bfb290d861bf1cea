"""The widget in real headless Chromium, against a scripted stand-in for the socket
(no servers): safe rendering of bot text and links, quick replies, the typing
indicator, keyboard use and focus, the offline outbox and history restore.
The real conversation over the real stack is in test_widget_browser.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from api.widget.routes import widget_script
from tests.channels.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    needs_chromium,
    screenshot_path,
)

pytestmark = needs_chromium

ORIGIN = "http://portal.test"
SESSION = "a" * 64

# A socket.io stand-in: records emits, lets the test fire server events.
FAKE_IO = """
window.__emits = [];
window.__autoConfirm = true;
window.io = function (url, options) {
  var handlers = {};
  function fire(event, data) {
    (handlers[event] || []).forEach(function (fn) { fn(data); });
  }
  var socket = {
    connected: false,
    auth: options.auth,
    on: function (event, fn) { (handlers[event] = handlers[event] || []).push(fn); },
    emit: function (event, data) {
      window.__emits.push([event, data]);
      if (event === "session_request" && window.__autoConfirm) {
        setTimeout(function () { fire("session_confirm", "__SESSION__"); }, 0);
      }
    },
    connect: function () {},
  };
  window.__socketOptions = { url: url, options: options };
  window.__fire = function (event, data) {
    if (event === "connect") { socket.connected = true; }
    if (event === "disconnect") { socket.connected = false; }
    fire(event, data);
  };
  setTimeout(function () { window.__fire("connect"); }, 0);
  return socket;
};
""".replace("__SESSION__", SESSION)

PAGE = """<!doctype html><html lang="en"><head><title>Portal</title></head>
<body><h1>Portal</h1><a href="#" id="elsewhere">elsewhere</a>
<script src="/fake-io.js"></script>
<script src="/widget.js" data-socket-url="http://bot.test" data-token="tok-123"
        data-title="Contoso billing help"></script>
</body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/fake-io.js":
            route.fulfill(body=FAKE_IO, content_type="application/javascript")
        elif path == "/widget.js":
            route.fulfill(body=widget_script(), content_type="application/javascript")
        elif path.startswith("/page"):
            route.fulfill(body=PAGE, content_type="text/html")
        else:
            route.fulfill(status=404, body="")

    context.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/page")
    page.wait_for_function("window.__emits.length > 0")
    yield page
    assert errors == [], errors
    context.close()


def fire(page: Page, event: str, data: Any = None) -> None:
    page.evaluate(f"window.__fire({json.dumps(event)}, {json.dumps(data)})")


def emits(page: Page, event: str) -> list[Any]:
    return [data for name, data in page.evaluate("window.__emits") if name == event]


def open_chat(page: Page) -> None:
    page.get_by_role("button", name="Open chat: Contoso billing help").click()


def test_it_connects_with_the_token_and_asks_for_a_session(page: Page) -> None:
    options = page.evaluate("window.__socketOptions")
    assert options["url"] == "http://bot.test"
    assert options["options"]["auth"] == {"token": "tok-123"}
    assert options["options"]["path"] == "/socket.io"
    assert emits(page, "session_request") == [{"session_id": None}]
    page.wait_for_function(f"window.CSPChat.sessionId === '{SESSION}'")


def test_keyboard_open_send_and_escape(page: Page) -> None:
    launcher = page.get_by_role("button", name="Open chat: Contoso billing help")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.focus()
    page.keyboard.press("Enter")
    box = page.get_by_role("textbox", name="Message")
    expect(box).to_be_focused()
    expect(page.get_by_role("dialog", name="Contoso billing help")).to_be_visible()
    log = page.get_by_role("log", name="Conversation")
    expect(log).to_have_attribute("aria-live", "polite")

    page.keyboard.type("where is my invoice?")
    page.keyboard.press("Enter")
    assert emits(page, "user_uttered") == [
        {"message": "where is my invoice?", "session_id": SESSION}
    ]
    expect(log).to_contain_text("where is my invoice?")
    expect(box).to_have_value("")
    typing = page.get_by_text("The assistant is typing")
    expect(typing).to_be_attached()
    expect(page.locator("#cspchat-host .typing")).to_be_visible()
    fire(page, "bot_uttered", {"text": "Invoice G000000001 is due."})
    expect(log).to_contain_text("Invoice G000000001 is due.")
    expect(page.locator("#cspchat-host .typing")).to_be_visible()  # until bot_done
    fire(page, "bot_done", {})
    expect(page.locator("#cspchat-host .typing")).to_be_hidden()

    page.keyboard.press("Shift+Enter")  # a new line, not a send
    assert len(emits(page, "user_uttered")) == 1
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_bot_text_is_never_html_and_only_http_links_are_links(page: Page) -> None:
    open_chat(page)
    fire(
        page,
        "bot_uttered",
        {
            "text": (
                '<img src=x onerror="window.__pwned=1"> **Total** due. '
                "[Download the PDF](https://desk.test/pdf/G1?sig=abc) or "
                "[click](javascript:window.__pwned=2) or see https://partner.test/help."
            )
        },
    )
    log = page.get_by_role("log")
    expect(log).to_contain_text('<img src=x onerror="window.__pwned=1">')
    assert page.locator("#cspchat-host .log img").count() == 0
    assert page.evaluate("window.__pwned") is None
    pdf = page.get_by_role("link", name="Download the PDF")
    expect(pdf).to_have_attribute("href", "https://desk.test/pdf/G1?sig=abc")
    expect(pdf).to_have_attribute("target", "_blank")
    expect(pdf).to_have_attribute("rel", "noopener noreferrer")
    expect(
        page.get_by_role("link", name="https://partner.test/help")
    ).to_have_attribute("href", "https://partner.test/help")
    assert page.get_by_role("link", name="click").count() == 0
    expect(page.locator("#cspchat-host .log strong")).to_have_text("Total")

    # The user's own text is shown as typed, never parsed either.
    box = page.get_by_role("textbox", name="Message")
    box.fill("<b>bold?</b>")
    box.press("Enter")
    expect(log).to_contain_text("<b>bold?</b>")
    assert page.locator("#cspchat-host .log b").count() == 0


def test_quick_replies_send_their_payload_and_show_their_title(page: Page) -> None:
    open_chat(page)
    fire(
        page,
        "bot_uttered",
        {
            "text": "Open a ticket for this?",
            "quick_replies": [
                {
                    "content_type": "text",
                    "title": "Yes, open one",
                    "payload": "/affirm",
                },
                {"content_type": "text", "title": "No", "payload": "/deny"},
            ],
        },
    )
    choices = page.get_by_role("group", name="Choices")
    yes = choices.get_by_role("button", name="Yes, open one")
    yes.focus()
    page.keyboard.press("Enter")
    assert emits(page, "user_uttered")[-1] == {
        "message": "/affirm",
        "session_id": SESSION,
    }
    expect(page.get_by_role("log")).to_contain_text("Yes, open one")
    expect(yes).to_be_disabled()
    expect(choices.get_by_role("button", name="No")).to_be_disabled()
    page.screenshot(path=screenshot_path("widget-quick-replies"))


def test_history_is_restored_after_a_reload_and_from_the_server(page: Page) -> None:
    open_chat(page)
    box = page.get_by_role("textbox", name="Message")
    box.fill("hello")
    box.press("Enter")
    fire(page, "bot_uttered", {"text": "Hi! How can I help?"})
    page.reload()
    page.wait_for_function("window.__emits.length > 0")
    # Same tab: the stored session id is asked for again, the messages are back.
    assert emits(page, "session_request") == [{"session_id": SESSION}]
    log = page.get_by_role("log")
    expect(log).to_contain_text("hello")
    expect(log).to_contain_text("Hi! How can I help?")

    # The server's copy wins (it has replies sent while we were away); a button
    # payload in it is shown as the button's title.
    fire(
        page,
        "session_history",
        {
            "session_id": SESSION,
            "messages": [
                {"from": "user", "text": "hello"},
                {
                    "from": "bot",
                    "text": "Pick one",
                    "quick_replies": [{"title": "Invoices", "payload": "/ask_invoice"}],
                },
                {"from": "user", "text": "/ask_invoice"},
                {"from": "bot", "text": "Reply sent while you were offline"},
            ],
        },
    )
    expect(log).to_contain_text("Reply sent while you were offline")
    expect(log).not_to_contain_text("/ask_invoice")
    expect(log.locator(".msg.user")).to_have_text(
        ["You said:hello", "You said:Invoices"]
    )


def test_messages_typed_offline_are_sent_after_reconnecting(page: Page) -> None:
    open_chat(page)
    page.evaluate("window.__autoConfirm = false")
    fire(page, "disconnect", "transport close")
    expect(page.get_by_role("status")).to_contain_text("Reconnecting")
    box = page.get_by_role("textbox", name="Message")
    box.fill("still there?")
    box.press("Enter")
    assert emits(page, "user_uttered") == []
    expect(page.get_by_role("status")).to_contain_text("Offline")
    fire(page, "connect")
    assert emits(page, "session_request")[-1] == {"session_id": SESSION}
    assert emits(page, "user_uttered") == []  # not before the session is confirmed
    fire(page, "session_confirm", SESSION)
    assert emits(page, "user_uttered") == [
        {"message": "still there?", "session_id": SESSION}
    ]
    expect(page.locator("#cspchat-host .status")).to_have_text("")
    # The server resumes the session and sends its history, taken before it read
    # the queued message: the queued message stays, and so does the typing dots.
    fire(
        page,
        "session_history",
        {
            "session_id": SESSION,
            "messages": [
                {"from": "user", "text": "hello"},
                {"from": "bot", "text": "Hi there"},
            ],
        },
    )
    log = page.get_by_role("log")
    expect(log).to_contain_text("Hi there")
    expect(log.locator(".msg.user")).to_have_text(
        ["You said:hello", "You said:still there?"]
    )
    expect(page.locator("#cspchat-host .typing")).to_be_visible()


def test_a_new_session_id_starts_a_new_conversation(page: Page) -> None:
    open_chat(page)
    box = page.get_by_role("textbox", name="Message")
    box.fill("hello")
    box.press("Enter")
    fire(page, "session_confirm", "b" * 64)  # e.g. another customer signed in
    expect(page.get_by_role("log")).not_to_contain_text("hello")
    assert page.evaluate("window.CSPChat.sessionId") == "b" * 64


def test_an_expired_token_is_explained_and_announced(page: Page) -> None:
    page.evaluate(
        "window.__expired = 0;"
        "window.addEventListener('cspchat:token-expired', () => window.__expired++)"
    )
    open_chat(page)
    fire(page, "connect_error", {"message": "invalid_token"})
    expect(page.get_by_role("status")).to_contain_text("sign-in has expired")
    assert page.evaluate("window.__expired") == 1
