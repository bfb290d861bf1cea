"""Handoff notifications to Teams (incoming webhook) and Slack (chat.postMessage),
against a local fake HTTP server that records what it receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.handoff import ActionHandoff
from api.domain.models import Customer
from api.domain.services.notify import (
    HandoffNotice,
    SlackConfig,
    notify_handoff,
    slack_message,
    teams_message_card,
)
from tests.actions.escalation_fixtures import conversation, customer_token, user


@dataclass
class FakeServer:
    """Records POSTs; answers with `status` and `body` (JSON)."""

    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    state = FakeServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            state.posts.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "json": json.loads(raw or b"null"),
                }
            )
            payload = json.dumps(state.body).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


NOTICE = HandoffNotice(
    partner_name="Northwind Cloud Services",
    conversation_id="conv-7",
    requester="Alex at Contoso Ltd",
    reason="The user asked to talk to a person.",
    last_message="Outlook is down",
    channel="socketio",
    dashboard_url="http://desk.example/dashboard/conversations?partner_id=1",
    reply_url="http://desk.example/api/v1/handoff/conv-7/messages",
)


def test_the_teams_card_is_a_message_card() -> None:
    card = teams_message_card(NOTICE)
    assert card["@type"] == "MessageCard"
    facts = {f["name"]: f["value"] for f in card["sections"][0]["facts"]}
    assert facts["Who"] == "Alex at Contoso Ltd"
    assert facts["Conversation"] == "conv-7"
    assert card["potentialAction"][0]["targets"][0]["uri"] == NOTICE.dashboard_url


def test_the_slack_message_names_the_channel() -> None:
    body = slack_message(NOTICE, "C0NWBILLING")
    assert body["channel"] == "C0NWBILLING"
    assert "Alex at Contoso Ltd" in body["text"]


def test_teams_and_slack_are_both_posted(fake: FakeServer) -> None:
    results = notify_handoff(
        NOTICE,
        teams_webhook=f"{fake.url}/teams/webhook",
        slack_channel="C0NWBILLING",
        slack=SlackConfig(bot_token="xoxb-test", api_base_url=f"{fake.url}/slack/"),
    )
    assert [(r.target, r.ok) for r in results] == [("teams", True), ("slack", True)]
    teams, slack = fake.posts
    assert teams["path"] == "/teams/webhook"
    assert teams["json"]["@type"] == "MessageCard"
    assert slack["path"] == "/slack/chat.postMessage"
    assert slack["headers"]["Authorization"] == "Bearer xoxb-test"
    assert slack["json"]["channel"] == "C0NWBILLING"


def test_slack_errors_are_reported_not_raised(
    fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.body = {"ok": False, "error": "channel_not_found"}
    results = notify_handoff(
        NOTICE,
        teams_webhook=None,
        slack_channel="C0NOPE",
        slack=SlackConfig(bot_token="xoxb-test", api_base_url=fake.url),
    )
    assert [(r.target, r.ok, r.detail) for r in results] == [
        ("slack", False, "Slack error: channel_not_found")
    ]
    assert "channel_not_found" in caplog.text
    assert "xoxb-test" not in caplog.text


def test_an_unreachable_webhook_is_reported_not_raised(fake: FakeServer) -> None:
    fake.status = 500
    failed = notify_handoff(NOTICE, teams_webhook=f"{fake.url}/x", slack_channel=None)
    assert [(r.target, r.ok, r.detail) for r in failed] == [
        ("teams", False, "HTTP 500")
    ]
    down = notify_handoff(
        NOTICE, teams_webhook="http://127.0.0.1:9/nothing", slack_channel=None
    )
    assert down[0].ok is False and down[0].detail.startswith("request failed")


def test_slack_needs_a_bot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    results = notify_handoff(NOTICE, teams_webhook=None, slack_channel="C0NWBILLING")
    assert [(r.target, r.ok) for r in results] == [("slack", False)]


def test_slack_settings_come_from_the_environment() -> None:
    assert SlackConfig.from_env({}) is None
    config = SlackConfig.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_BASE_URL": "http://fake/api/"}
    )
    assert config == SlackConfig("xoxb-1", "http://fake/api/")
    assert SlackConfig.from_env({"SLACK_BOT_TOKEN": "x"}).api_base_url == (  # type: ignore[union-attr]
        "https://slack.com/api/"
    )


async def test_the_handoff_action_posts_to_the_partners_channels(
    fake: FakeServer, seeded_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    contoso = seeded_session.scalars(
        select(Customer).where(Customer.domain == "contoso.com")
    ).one()
    partner = contoso.partner
    partner.teams_channel_webhook = f"{fake.url}/teams/northwind"
    seeded_session.commit()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-northwind")
    monkeypatch.setenv("SLACK_API_BASE_URL", f"{fake.url}/slack/")

    dispatcher = CollectingDispatcher()
    events = await ActionHandoff().run(
        dispatcher,
        conversation(
            [user("I'd like to talk to someone", "request_human")],
            token=customer_token(contoso.tenant_id),
            sender_id="conv-notify",
        ),
        {},
    )
    assert events[-1]["event"] == "pause"
    paths = sorted(post["path"] for post in fake.posts)
    assert paths == ["/slack/chat.postMessage", "/teams/northwind"]
    slack = next(p for p in fake.posts if p["path"].startswith("/slack"))
    assert slack["json"]["channel"] == partner.slack_channel_id
    assert "conv-notify" in json.dumps(slack["json"])
