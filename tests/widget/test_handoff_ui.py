"""A person in the chat, as the customer meets it in the widget: real headless
Chromium, the widget as the API serves it (strings from the catalogue), a scripted
stand-in for the socket (tests/widget/test_render.py). The payloads are the ones
the channel sends (docs/channels.md, "A person in the chat"); the real stack with
an agent in the dashboard is tests/channels/test_agent_seat.py.

- an agent's message: their name and a bubble of its own;
- the "waiting for a person" banner, with the desk's opening time in the
  customer's zone and "Open a ticket instead" while it is closed, until an agent
  answers or the chat is handed back;
- the unread badge and page title while the window is closed;
- e-mail addresses and phone numbers as mailto:/tel: links, hostile text inert.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.widget.routes import widget_script, widget_texts
from tests.channels.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    needs_chromium,
    screenshot_path,
)
from tests.widget.test_render import FAKE_IO, ORIGIN, PAGE, SESSION

pytestmark = needs_chromium

TEXTS = widget_texts()
AGENT = "Sam Rivera"
HANDED_OVER = "I'm handing this conversation to a person at Northwind's support desk."
WAITING = {"handoff": "waiting", "desk_open": True, "opens_at": None, "ticket": False}
# Saturday 5 December 2026, noon in Redmond: Northwind opens on Monday at 07:00.
CLOSED = {
    "handoff": "waiting",
    "desk_open": False,
    "opens_at": "2026-12-07T15:00:00+00:00",
    "ticket": True,
}
JOINED = {
    "from": "agent",
    "name": AGENT,
    "event": "joined",
    "text": f"{AGENT} from Northwind Traders has joined the chat.",
}
BACK = "You're back with the assistant."


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # A customer in Chicago, whose browser says so.
    context = browser.new_context(locale="en-US", timezone_id="America/Chicago")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    script = widget_script()

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/fake-io.js":
            route.fulfill(body=FAKE_IO, content_type="application/javascript")
        elif path == "/widget.js":
            route.fulfill(body=script, content_type="application/javascript")
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


def say(page: Page, *payloads: dict[str, Any]) -> None:
    for payload in payloads:
        fire(page, "bot_uttered", payload)


def emits(page: Page, event: str) -> list[Any]:
    return [data for name, data in page.evaluate("window.__emits") if name == event]


def launcher(page: Page) -> Any:
    return page.locator(".launcher")


def open_chat(page: Page) -> None:
    launcher(page).click()
    expect(page.get_by_role("dialog")).to_be_visible()


def banner(page: Page) -> Any:
    return page.locator(".handoff")


def background(locator: Any) -> str:
    return str(locator.evaluate("node => getComputedStyle(node).backgroundColor"))


# --------------------------------------------------------------------------- agent


def test_an_agents_message_shows_their_name_in_a_bubble_of_its_own(
    page: Page,
) -> None:
    open_chat(page)
    say(page, {"text": "Here is your latest invoice."})
    say(page, JOINED, {"from": "agent", "name": AGENT, "text": "I can see it."})
    log = page.get_by_role("log", name=TEXTS["conversation"])

    joined = log.locator(".msg.agent.notice")
    expect(joined).to_contain_text(JOINED["text"])
    reply = log.locator(".msg.agent:not(.notice)")
    expect(reply).to_have_count(1)
    expect(reply.locator(".name")).to_have_text(AGENT)
    expect(reply.locator(".bubble")).to_have_text("I can see it.")
    # Screen readers hear who said it, in the catalogue's words.
    expect(reply.locator(".sr-only")).to_have_text(
        TEXTS["agent_said"].replace("{name}", AGENT)
    )
    bot_bubble = log.locator(".msg.bot .bubble").last
    assert background(reply.locator(".bubble")) != background(bot_bubble)
    assert reply.locator(".bubble").evaluate(
        "node => getComputedStyle(node).borderLeftWidth"
    ) == ("4px")
    page.screenshot(path=screenshot_path("widget-agent-message"))


def test_an_agent_without_a_name_is_still_not_the_assistant(page: Page) -> None:
    open_chat(page)
    say(page, {"from": "agent", "name": "", "text": "Hello"})
    reply = page.locator(".msg.agent")
    expect(reply.locator(".name")).to_have_text(TEXTS["agent_unnamed"])
    expect(page.locator(".msg.bot")).to_have_count(1)  # the greeting only


# --------------------------------------------------------------------------- waiting


def test_the_waiting_banner_lasts_until_an_agent_joins_and_the_chat_is_handed_back(
    page: Page,
) -> None:
    open_chat(page)
    expect(banner(page)).to_be_hidden()
    rows_before = page.locator(".msg").count()
    say(page, {"text": HANDED_OVER}, WAITING)

    status = page.get_by_role("status").filter(has_text=TEXTS["waiting"])
    expect(status).to_be_visible()
    expect(status).to_have_attribute("aria-live", "polite")
    # The state change is no bubble of its own.
    expect(page.locator(".msg")).to_have_count(rows_before + 1)
    expect(banner(page).locator(".ticket")).to_be_hidden()  # the desk is open
    page.screenshot(path=screenshot_path("widget-waiting"))

    say(page, JOINED)
    with_agent = TEXTS["with_agent"].replace("{name}", AGENT)
    expect(banner(page).locator(".handoff-text")).to_have_text(with_agent)

    say(page, {"text": BACK}, {"handoff": "ended"})
    expect(banner(page)).to_be_hidden()
    expect(page.get_by_role("log")).to_contain_text(BACK)


def test_a_closed_desk_says_when_it_opens_and_offers_a_ticket(page: Page) -> None:
    open_chat(page)
    say(page, {"text": HANDED_OVER}, CLOSED)
    expect(banner(page)).to_contain_text(TEXTS["waiting_closed"])
    # 15:00 UTC is 09:00 in Chicago, where this customer is.
    expect(banner(page)).to_contain_text(
        TEXTS["desk_opens"].replace("{time}", "Monday, December 7 at 9:00 AM CST")
    )
    page.screenshot(path=screenshot_path("widget-desk-closed"))

    ticket = page.get_by_role("button", name=TEXTS["ticket_instead"])
    ticket.click()
    assert emits(page, "handoff_ticket") == [{"session_id": SESSION}]
    expect(ticket).to_be_hidden()  # asked once
    expect(page.locator(".typing")).to_be_visible()  # the answer is coming
    # The API failed: the channel says so, and the button is offered again.
    say(page, {"text": "Sorry, I couldn't open a ticket just now."})
    fire(page, "bot_done", {})
    expect(ticket).to_be_visible()
    expect(banner(page)).to_contain_text(TEXTS["waiting_closed"])
    ticket.click()
    assert len(emits(page, "handoff_ticket")) == 2

    # The channel hands the chat back with the ticket's number.
    say(page, {"text": "I've opened ticket CSP-1042."}, {"handoff": "ended"})
    expect(banner(page)).to_be_hidden()
    expect(page.locator(".typing")).to_be_hidden()


def test_no_ticket_button_offline(page: Page) -> None:
    open_chat(page)
    say(page, {"text": HANDED_OVER}, CLOSED)
    fire(page, "disconnect", "transport close")
    page.get_by_role("button", name=TEXTS["ticket_instead"]).click()
    assert emits(page, "handoff_ticket") == []
    expect(page.locator(".status")).to_have_text(TEXTS["ticket_offline"])


def test_the_banner_comes_back_with_the_history(page: Page) -> None:
    open_chat(page)
    say(page, {"text": HANDED_OVER}, WAITING)
    page.reload()
    page.wait_for_function("window.__emits.length > 0")
    expect(banner(page)).to_contain_text(TEXTS["waiting"])

    # The server's history (the channel's transcript) says an agent answered.
    fire(
        page,
        "session_history",
        {
            "session_id": SESSION,
            "messages": [
                {"from": "user", "text": "a person please"},
                {"from": "bot", "text": HANDED_OVER},
                {"from": "bot", **WAITING},
                {"from": "agent", "name": AGENT, "text": "Hi, Sam here."},
            ],
        },
    )
    expect(banner(page).locator(".handoff-text")).to_have_text(
        TEXTS["with_agent"].replace("{name}", AGENT)
    )
    expect(page.locator(".msg.agent .name")).to_have_text(AGENT)
    fire(
        page,
        "session_history",
        {
            "session_id": SESSION,
            "messages": [
                {"from": "bot", "text": HANDED_OVER},
                {"from": "bot", **WAITING},
                {"from": "bot", "text": BACK},
                {"from": "bot", "handoff": "ended"},
            ],
        },
    )
    expect(banner(page)).to_be_hidden()


# --------------------------------------------------------------------------- unread


def test_replies_while_closed_show_on_the_launcher_and_in_the_title(
    page: Page,
) -> None:
    button = launcher(page)
    badge = button.locator(".badge")
    expect(badge).to_be_hidden()
    assert page.title() == "Portal"

    say(page, {"text": "A reply from the bot"}, WAITING)  # the state is no reply
    expect(badge).to_have_text("1")
    say(page, {"from": "agent", "name": AGENT, "text": "And one from me"})
    expect(badge).to_have_text("2")
    expect(button).to_have_attribute(
        "aria-label",
        TEXTS["open_chat"].replace("{title}", "Contoso billing help")
        + " "
        + TEXTS["unread"].replace("{count}", "2"),
    )
    page.wait_for_function("document.title === '(2) Portal'")
    page.screenshot(path=screenshot_path("widget-unread"))

    # Reloaded while closed: still unread.
    page.reload()
    page.wait_for_function("window.__emits.length > 0")
    expect(launcher(page).locator(".badge")).to_have_text("2")

    open_chat(page)
    expect(launcher(page).locator(".badge")).to_be_hidden()
    page.wait_for_function("document.title === 'Portal'")
    # A page that renames itself keeps its new name under the count.
    page.keyboard.press("Escape")
    page.evaluate("document.title = 'Invoices - Portal'")
    say(page, {"text": "Another reply"})
    page.wait_for_function("document.title === '(1) Invoices - Portal'")
    open_chat(page)
    page.wait_for_function("document.title === 'Invoices - Portal'")
    # Replies while it is open are read.
    say(page, {"text": "Seen at once"})
    page.keyboard.press("Escape")
    expect(launcher(page).locator(".badge")).to_be_hidden()
    assert page.title() == "Invoices - Portal"


# --------------------------------------------------------------------------- links


def test_support_email_and_phone_are_links(page: Page) -> None:
    open_chat(page)
    say(
        page,
        {
            "text": "If nobody is online, you can reach them at "
            "support@northwindtraders.com or +1 425 555 0100. Invoice 2026-12-05 "
            "is due; call +44 (20) 7946-0100 for Fabrikam."
        },
    )
    log = page.get_by_role("log")
    mail = log.get_by_role("link", name="support@northwindtraders.com")
    expect(mail).to_have_attribute("href", "mailto:support@northwindtraders.com")
    phone = log.get_by_role("link", name="+1 425 555 0100")
    expect(phone).to_have_attribute("href", "tel:+14255550100")
    uk = log.get_by_role("link", name="+44 (20) 7946-0100")
    expect(uk).to_have_attribute("href", "tel:+442079460100")
    # A date is no phone number; the sentence's full stop is not in the link.
    assert log.locator("a").count() == 3
    expect(log.locator(".msg.bot").last).to_contain_text("+1 425 555 0100. Invoice")


def test_hostile_text_stays_text_and_builds_no_link_of_its_own(page: Page) -> None:
    open_chat(page)
    hostile = (
        '"><img src=x onerror="window.__pwned=1"> write to '
        'x"onmouseover="window.__pwned=1"@evil.example or '
        "javascript:alert(1)//@evil.example, "
        "<script>window.__pwned=1</script>evil@evil.example, "
        "call +1 425 555 0100<svg onload=window.__pwned=1>"
    )
    say(
        page,
        {"text": hostile},
        {
            "from": "agent",
            "name": '<img src=x onerror="window.__pwned=1">',
            "text": hostile,
        },
    )
    log = page.get_by_role("log")
    expect(log.locator(".msg.agent .name")).to_have_text(
        '<img src=x onerror="window.__pwned=1">'
    )
    host = page.locator("#cspchat-host")
    assert (
        host.locator("img, script, svg[onload], [onerror], [onmouseover]").count() == 0
    )
    assert page.evaluate("window.__pwned") is None
    hrefs = log.locator("a").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('href'))"
    )
    # Built from the matched characters only, in both messages.
    assert hrefs == ["mailto:evil@evil.example", "tel:+14255550100"] * 2
    for href in hrefs:
        assert href.startswith(("mailto:", "tel:")), href
        assert not any(c in href for c in "\"'<> "), href
    # Every character of the message is on screen, as text.
    expect(log.locator(".msg.bot .bubble").last).to_have_text(hostile)
