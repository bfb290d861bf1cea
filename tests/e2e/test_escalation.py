"""End to end: escalation tickets and human handoff against the real Rasa, action
server and API (tests/e2e/stack.py), over Rasa's REST channel.

    RASA_MODEL=/tmp/issue5-model/csp.tar.gz .venv/bin/pytest tests/e2e/test_escalation.py

Expected routes come from `api.domain.services.routing.route` and the partner's programs
in the stack's database, never written down. Slack and Teams notifications go to a
local fake HTTP server that records them.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.domain.db import make_engine
from api.domain.models import Customer, Partner, ProductKind, Ticket, TicketCategory
from api.domain.services.routing import route
from common.identity import mint_customer_token
from tests.e2e.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

MAX_FORM_TURNS = 14


# --------------------------------------------------------------------------- fakes


@dataclass
class Recorder:
    """A local HTTP server standing in for Teams webhooks and Slack's Web API."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [post["path"] for post in self.posts]


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    state = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.posts.append({"path": self.path, "json": json.loads(raw or b"null")})
            body = json.dumps({"ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, recorder: Recorder
) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("escalation"),
        extra_env={
            # Handoff notices to the partner's Slack channel go to the recorder.
            "SLACK_BOT_TOKEN": "xoxb-e2e",
            "SLACK_API_BASE_URL": f"{recorder.url}/slack/",
        },
    )
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def db(stack: Stack) -> Iterator[Engine]:
    engine = make_engine(stack.env["DATABASE_URL"])
    yield engine
    engine.dispose()


# --------------------------------------------------------------------------- helpers


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def customer(db: Engine, domain: str) -> tuple[str, str, str, int]:
    """(tenant id, partner name, partner timezone, partner id) of a demo customer."""
    with Session(db) as session:
        found = session.scalars(select(Customer).where(Customer.domain == domain)).one()
        partner = found.partner
        return found.tenant_id, partner.name, partner.timezone, partner.id


def expected_route(db: Engine, partner_id: int, kind: ProductKind) -> Any:
    with Session(db) as session:
        partner = session.get(Partner, partner_id)
        assert partner is not None
        programs = set(partner.active_programs(date.today()))
    return route(TicketCategory.TECHNICAL, product_kind=kind, programs=programs)


def start(stack: Stack, db: Engine, domain: str) -> tuple[str, str]:
    """A new conversation of a signed-in user of `domain`; (sender, first reply)."""
    tenant_id, *_ = customer(db, domain)
    token = mint_customer_token(
        stack.env["CHAT_TOKEN_SECRET"],
        tenant_id=tenant_id,
        user_id=f"alex@{domain}",
        name="Alex",
    )
    sender = f"e2e-esc-{uuid.uuid4()}"
    greeting = texts(stack.say(sender, "hello", {"chat_token": token}))
    assert greeting.strip(), "the bot did not answer the greeting"
    return sender, greeting


def answer_for(question: str, answers: dict[str, str]) -> Optional[str]:
    """What to say to the form's current question (the bot's last message)."""
    markers = {
        "describe the problem": "description",
        "which product or service": "product",
        "classified this as": "category",
        "is this about billing": "category",
        "affecting your work": "impact",
        "how urgent": "urgency",
        "available 24x7": "24x7",
        "already tried": "steps",
        "shall i file": "confirm",
    }
    lowered = question.lower()
    for marker, key in markers.items():
        if marker in lowered:
            return answers[key]
    return None


def fill_the_form(stack: Stack, sender: str, answers: dict[str, str]) -> str:
    """Answer the ticket form's questions until the ticket is filed; the filing
    reply. Follows whatever the bot asks, so a product NLU already found is not
    asked again."""
    replies = stack.say(sender, "/deny")  # "did that solve it?" -> no
    assert "open a ticket" in texts(replies).lower(), texts(replies)
    for _ in range(MAX_FORM_TURNS):
        if "I've filed ticket" in texts(replies):
            return texts(replies)
        question = replies[-1].get("text", "") if replies else ""
        next_answer = answer_for(question, answers)
        assert next_answer is not None, f"unexpected question:\n{texts(replies)}"
        replies = stack.say(sender, next_answer)
    raise AssertionError(f"the form did not finish:\n{texts(replies)}")


def tickets_of(db: Engine, sender: str) -> list[Ticket]:
    with Session(db, expire_on_commit=False) as session:
        return list(
            session.scalars(select(Ticket).where(Ticket.conversation_id == sender))
        )


def rasa_tracker(stack: Stack, sender: str) -> dict[str, Any]:
    response = httpx.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker",
        params={"token": stack.env["RASA_AUTH_TOKEN"], "include_events": "ALL"},
        timeout=30,
    )
    response.raise_for_status()
    return dict(response.json())


OUTLOOK_ANSWERS = {
    "description": "Since 9am nobody in the office can open Outlook, error 0x800CCC0E",
    "product": "Outlook",
    "category": "technical",
    "impact": "critical",
    "urgency": "now",
    "24x7": "/affirm",
    "steps": "restarted Outlook and the PC",
    "confirm": "/affirm",
}


# --------------------------------------------------------------------------- tests


def test_an_outlook_outage_becomes_a_ticket_routed_to_the_partners_tier(
    stack: Stack, db: Engine
) -> None:
    _, partner_name, _, partner_id = customer(db, "contoso.com")
    sender, _ = start(stack, db, "contoso.com")

    self_help = texts(
        stack.say(sender, "Outlook is down for everyone since this morning")
    )
    assert "Did that solve it?" in self_help, self_help

    filed = fill_the_form(stack, sender, OUTLOOK_ANSWERS)
    [ticket] = tickets_of(db, sender)
    decision = expected_route(db, partner_id, ProductKind.LICENSE)
    assert decision.escalate_to is not None
    assert ticket.route == decision.escalate_to
    assert ticket.severity.value == "A"
    assert ticket.packet["customer_24x7_commitment"] is True
    assert ticket.packet["transcript_excerpt"], "no transcript excerpt"
    assert ticket.public_id in filed
    assert partner_name in filed
    assert decision.escalate_to_name in filed
    assert "respond by" in filed

    status = texts(stack.say(sender, f"status of ticket {ticket.public_id}"))
    assert ticket.public_id in status, status


def test_a_partner_without_entitlement_has_no_microsoft_technical_route(
    stack: Stack, db: Engine
) -> None:
    _, partner_name, _, partner_id = customer(db, "proseware.com")
    decision = expected_route(db, partner_id, ProductKind.LICENSE)
    assert decision.escalate_to is None
    sender, _ = start(stack, db, "proseware.com")
    assert "Did that solve it?" in texts(stack.say(sender, "Teams keeps crashing"))
    filed = fill_the_form(
        stack,
        sender,
        {
            **OUTLOOK_ANSWERS,
            "description": "Teams crashes when anyone joins a meeting since Monday",
            "product": "Teams",
            "impact": "moderate",
            "urgency": "today",
        },
    )
    [ticket] = tickets_of(db, sender)
    assert ticket.route == "partner_desk"
    assert "no Microsoft technical route" in filed, filed
    assert partner_name in filed


def test_filing_is_idempotent_for_the_same_message(stack: Stack, db: Engine) -> None:
    sender, _ = start(stack, db, "contoso.com")
    stack.say(sender, "Outlook won't open")
    fill_the_form(stack, sender, OUTLOOK_ANSWERS)
    [ticket] = tickets_of(db, sender)

    # The REST channel carries no message id, so a resent message is a new message:
    # the form is over, and nothing is filed again.
    stack.say(sender, "/affirm")
    assert len(tickets_of(db, sender)) == 1

    # A retried action call (Rasa retrying, or a redelivery reaching the action
    # again): run action_file_ticket twice with the tracker exactly as it was when
    # the ticket was filed.
    events = rasa_tracker(stack, sender)["events"]
    index = max(
        i
        for i, e in enumerate(events)
        if e.get("event") == "action" and e.get("name") == "action_file_ticket"
    )
    before = events[:index]
    slots: dict[str, Any] = {}
    for event in before:
        if event.get("event") == "slot":
            slots[event["name"]] = event["value"]
    latest_user = next(e for e in reversed(before) if e.get("event") == "user")
    domain = httpx.get(
        f"{stack.rasa_url}/domain",
        params={"token": stack.env["RASA_AUTH_TOKEN"]},
        headers={"Accept": "application/json"},
        timeout=30,
    ).json()
    call = {
        "next_action": "action_file_ticket",
        "sender_id": sender,
        "version": "3.6.21",
        "domain": domain,
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            # The store keeps no chat token (only its expired receipt); Rasa
            # sends the message's own token with the call.
            "latest_message": {
                **latest_user["parse_data"],
                "metadata": stack.metadata[sender],
            },
            "events": before,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "escalation_form",
        },
    }
    said = []
    for _ in range(2):
        response = httpx.post(
            f"{stack.action_url}/webhook",
            params={"token": stack.env["ACTION_SERVER_TOKEN"]},
            json=call,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        filed = [
            r
            for r in response.json()["responses"]
            if r.get("response") == "utter_ticket_filed"
        ]
        said.append(filed[0]["ticket_id"])
    assert said == [ticket.public_id, ticket.public_id]
    with Session(db) as session:
        count = session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.conversation_id == sender)
        )
    assert count == 1


def test_talk_to_a_person_pauses_the_bot_until_the_agent_hands_back(
    stack: Stack, db: Engine, recorder: Recorder
) -> None:
    _, partner_name, _, partner_id = customer(db, "contoso.com")
    with Session(db) as session:
        partner = session.get(Partner, partner_id)
        assert partner is not None
        partner.teams_channel_webhook = f"{recorder.url}/teams/northwind"
        hours = partner.support_hours
        session.commit()
    sender, _ = start(stack, db, "contoso.com")

    handoff = texts(stack.say(sender, "I want to talk to a person"))
    assert partner_name in handoff and hours in handoff, handoff
    assert rasa_tracker(stack, sender)["paused"] is True
    assert "/teams/northwind" in recorder.paths()
    assert "/slack/chat.postMessage" in recorder.paths()
    assert sender in json.dumps(recorder.posts)

    assert stack.say(sender, "hello? is anyone there?") == []

    api = httpx.Client(
        base_url=stack.api_url,
        headers={"Authorization": f"Bearer {stack.env['API_SERVICE_TOKEN']}"},
        timeout=30,
    )
    sent = api.post(
        f"/api/v1/handoff/{sender}/messages",
        json={"text": "Hi, this is Dana from Northwind billing.", "agent": "Dana"},
    )
    assert sent.status_code == 200, sent.text
    tracker = rasa_tracker(stack, sender)
    agent_events = [
        e
        for e in tracker["events"]
        if e.get("event") == "bot" and (e.get("metadata") or {}).get("agent") == "Dana"
    ]
    # The agent's words travel as the payload the widget shows under their name.
    assert [e["data"]["custom"] for e in agent_events] == [
        {
            "from": "agent",
            "name": "Dana",
            "text": "Hi, this is Dana from Northwind billing.",
        }
    ]
    assert tracker["paused"] is True

    resumed = api.post(f"/api/v1/handoff/{sender}/resume")
    assert resumed.status_code == 200, resumed.text
    assert rasa_tracker(stack, sender)["paused"] is False

    back = texts(stack.say(sender, "hello"))
    assert back.strip(), "the bot did not answer after the handoff"
    again = api.post(f"/api/v1/handoff/{sender}/resume")
    assert again.status_code == 409


def test_two_failures_offer_a_person_or_a_ticket(stack: Stack, db: Engine) -> None:
    sender, _ = start(stack, db, "contoso.com")
    first = texts(stack.say(sender, "/nlu_fallback"))
    assert first.strip()
    second = texts(stack.say(sender, "/nlu_fallback"))
    assert "still don't understand" in second, second
    assert "open a support ticket" in second, second
    accepted = texts(stack.say(sender, "/affirm"))
    assert "open a ticket" in accepted.lower(), accepted
