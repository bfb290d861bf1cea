"""Hidden text-direction characters are shown, not applied, on the dashboard.

The finding: a chatter's right-to-left override (U+202E) and the other bidi controls
reached the review pages raw, so "invoice_\u202egpj.exe" displayed as
"invoice_exe.jpg" and an override in a sender id or agent name could reorder the
text after it. The `bidi_safe` filter replaces each with a visible `[U+202E]`
marker wherever user text is shown.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from markupsafe import Markup

from api.dashboard.routes import BIDI_CONTROLS, bidi_safe
from tests.dashboard.conftest import Tracker
from tests.dashboard.helpers import Conversation as Script

EVERY_CONTROL = (
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
RAW = re.compile(f"[{EVERY_CONTROL}]")
SENDER = "conv-\u202eevil"
# Form values keep the text as it is, so that a filter or a correction round-trips;
# inside an attribute a control character cannot reorder the page.
FORM_VALUE = re.compile(r'value="[^"]*"')


def shown(html: str) -> str:
    """The page without its form values."""
    return FORM_VALUE.sub("", html)


@pytest.mark.parametrize("control", list(EVERY_CONTROL))
def test_every_bidi_control_becomes_a_visible_marker(control: str) -> None:
    shown = bidi_safe(f"a{control}b")
    assert isinstance(shown, Markup)
    assert control not in shown
    assert f"[U+{ord(control):04X}]" in shown
    assert shown.startswith("a<span") and shown.endswith("</span>b")


def test_the_rest_is_still_escaped() -> None:
    shown = bidi_safe('<img src=x onerror="alert(1)">\u202e&')
    assert "<img" not in shown and "&lt;img" in shown and "&amp;" in shown
    assert bidi_safe("plain <b>") == "plain <b>"  # autoescape handles it later
    assert bidi_safe(None) is None and bidi_safe(42) == 42
    assert not BIDI_CONTROLS.search("Hebrew שלום and Arabic مرحبا need none of them")


@pytest.fixture
def hostile_conversation(tracker: Tracker) -> None:
    script = Script(
        start=(datetime.now(timezone.utc) - timedelta(hours=1)).timestamp(),
        channel="socket\u2066io",
    )
    script.user(
        "please send invoice_\u202egpj.exe\u202c again",
        "ask_invoice",
        entities=[{"entity": "invoice_number", "value": "G00\u202e0024135"}],
    )
    script.bot("A person will answer.", agent="Sam \u202eevilarG")
    tracker.add(SENDER, script.events)


def test_the_pages_show_markers_not_controls(
    lead_client: tuple[TestClient, str], hostile_conversation: None
) -> None:
    client, _csrf = lead_client
    listing = client.get("/dashboard/conversations")
    assert listing.status_code == 200
    assert not RAW.search(shown(listing.text))
    assert "socket<span" in listing.text  # the channel, marked
    found = re.search(r'href="/dashboard/conversations/(\d+)"', listing.text)
    assert found is not None
    page = client.get(f"/dashboard/conversations/{found.group(1)}")
    assert page.status_code == 200
    assert not RAW.search(shown(page.text))
    for marked in (
        "conv-<span",  # the sender id
        "invoice_<span",  # the user's message
        "G00<span",  # an entity value
        "Sam <span",  # the agent's name
    ):
        assert marked in page.text, marked
    assert page.text.count('class="bidi-control"') >= 6
    metrics = client.get("/dashboard/metrics")
    assert metrics.status_code == 200 and not RAW.search(shown(metrics.text))
