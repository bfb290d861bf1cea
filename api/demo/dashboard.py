"""Demo data of the review dashboard (local mode only).

``seed_dashboard_demo(session)`` creates two users (the passwords are in
docs/dashboard.md) and, unless told not to, about sixty conversations spread over
the last four weeks, with every outcome, low-confidence and fallback turns, a
handoff with a human agent's messages, tickets, and a card number that the
redaction removes. The conversations go through the ingester's own code
(``apply_events``), as if Rasa had stored them; they are not in the tracker store.
Running it again changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.dashboard import rasa_events as ev
from api.dashboard.auth import create_lead, user_by_email
from api.dashboard.ingest import apply_events
from api.dashboard.models import Conversation, DashboardRole
from api.dashboard.transcripts import TrackerEvent
from api.domain.models import Customer, ProductKind, Severity, TicketCategory, utcnow
from api.domain.services.tickets import NewTicket, create_ticket
from api.settings import get_settings
from common.identity import mint_customer_token

DEMO_LEAD_EMAIL = "lead@demo.local"
DEMO_LEAD_PASSWORD = "demo-lead-password"  # noqa: S105 (local demo only, documented)
DEMO_ADMIN_EMAIL = "admin@demo.local"
DEMO_ADMIN_PASSWORD = "demo-admin-password"  # noqa: S105 (local demo only, documented)
DEMO_AGENT_EMAIL = "agent@demo.local"
DEMO_AGENT_PASSWORD = "demo-agent-password"  # noqa: S105 (local demo only, documented)
DEMO_AGENT_NAME = "Sam Rivera"
DEMO_SENDER_PREFIX = "demo-dashboard-"
DEMO_CONVERSATIONS = 60
DEMO_DAYS = 28


@dataclass(frozen=True)
class DashboardDemoSummary:
    users_created: int
    conversations_created: int
    tickets_created: int

    def describe(self) -> str:
        return (
            f"dashboard: {self.users_created} users, {self.conversations_created} "
            f"conversations, {self.tickets_created} tickets "
            f"(sign in as {DEMO_LEAD_EMAIL} / {DEMO_LEAD_PASSWORD})"
        )


class _Script:
    """Builds one conversation's events, a few seconds apart."""

    def __init__(self, start: datetime, channel: str, token: Optional[str]) -> None:
        self.t = start.timestamp()
        self.channel = channel
        self.metadata = {"chat_token": token} if token else {}
        self.events: list[dict[str, Any]] = [
            ev.action("action_session_start", self._tick(0.1)),
            ev.session_started(self._tick(0.1), self.metadata),
            ev.action("action_listen", self._tick(0.1)),
        ]

    def _tick(self, seconds: float) -> float:
        self.t += seconds
        return self.t

    def say(
        self,
        text: str,
        intent: str,
        confidence: float = 0.96,
        entities: tuple[dict[str, Any], ...] = (),
    ) -> None:
        self.events.append(
            ev.user(
                text,
                self._tick(20),
                intent=intent,
                confidence=confidence,
                entities=entities,
                channel=self.channel,
                metadata=self.metadata,
            )
        )

    def reply(self, action: str, text: Optional[str] = None) -> None:
        self.events.append(ev.action(action, self._tick(1), policy="RulePolicy"))
        if text:
            self.events.append(ev.bot(text, self._tick(0.2)))

    def listen(self) -> None:
        self.events.append(ev.action("action_listen", self._tick(0.1)))

    def agent(self, name: str, text: str) -> None:
        self.events.append(ev.bot(text, self._tick(45), agent=name))

    def pause(self) -> None:
        self.events.append(ev.pause(self._tick(1)))

    def resume(self) -> None:
        self.events.append(ev.resume(self._tick(120)))


def _entity(text: str, value: str, entity: str) -> dict[str, Any]:
    start = text.index(value)
    return {"entity": entity, "value": value, "start": start, "end": start + len(value)}


def _invoice(s: _Script, number: str) -> None:
    s.say("hi", "greet", 0.99)
    s.reply("utter_greet", "Hi! I'm the billing assistant. What can I do for you?")
    s.listen()
    s.say("can you show me my latest invoice?", "ask_invoice", 0.97)
    s.reply(
        "action_show_invoice",
        f"Your latest invoice is {number}, dated the 1st, total $1,284.00, due in 30 days.",
    )
    s.listen()
    s.say("thanks!", "thank", 0.98)
    s.reply("utter_youre_welcome", "You're welcome! Anything else I can help with?")
    s.listen()


def _charge(s: _Script, number: str) -> None:
    text = f"why is invoice {number} higher than last month?"
    s.say(text, "explain_charges", 0.93, (_entity(text, number, "invoice_number"),))
    s.reply(
        "action_explain_charges",
        "It includes 5 more Microsoft 365 Business Standard seats from the 12th, "
        "prorated for 19 days, and the new list price from this month.",
    )
    s.listen()
    s.say("ok that makes sense, bye", "goodbye", 0.9)
    s.reply("utter_goodbye", "Goodbye, and thanks for getting in touch.")
    s.listen()


def _payment_methods(s: _Script) -> None:
    s.say("how can I pay my bill?", "ask_payment_methods", 0.95)
    s.reply(
        "action_payment_methods",
        "You can pay by bank transfer or card; the details are on every invoice.",
    )
    s.listen()


def _support_hours(s: _Script) -> None:
    s.say("when is your support desk open?", "ask_support_info", 0.94)
    s.reply("action_support_info", "Our desk is open Monday to Friday, 8:00-18:00 CET.")
    s.listen()


def _fallback(s: _Script) -> None:
    s.say("hello", "greet", 0.99)
    s.reply("utter_greet", "Hi! I'm the billing assistant. What can I do for you?")
    s.listen()
    s.say("can u do the thing with the stuff from before", "nlu_fallback", 0.31)
    s.reply(
        "action_default_ask_affirmation",
        "Sorry, I'm not sure I understood. Could you say that another way?",
    )
    s.listen()


def _low_confidence(s: _Script) -> None:
    s.say("I need the paper thing for our accountant for march", "ask_invoice", 0.41)
    s.reply(
        "action_show_invoice",
        "Your latest invoice is G000024135, dated the 1st, total $1,284.00.",
    )
    s.listen()


def _card_declined(s: _Script) -> None:
    s.say(
        "my card 4111 1111 1111 1111 was declined when I paid",
        "report_payment_failed",
        0.88,
    )
    s.reply(
        "action_payment_failed",
        "Sorry about that. Please don't share card numbers here. The payment was "
        "declined by the bank; you can retry from the portal or pay by transfer.",
    )
    s.listen()


def _handoff(s: _Script) -> None:
    s.say("I want to talk to a person", "request_human", 0.97)
    s.reply("action_handoff", "I'm bringing in a colleague from the billing desk.")
    s.pause()
    s.agent("Dana (billing desk)", "Hi, this is Dana from billing. How can I help?")
    s.say("we were charged for seats we removed last month", "request_refund", 0.62)
    s.agent(
        "Dana (billing desk)",
        "I see the seat reduction on the 3rd; I've asked for a credit note. You'll "
        "get it by e-mail within two working days.",
    )
    s.resume()
    s.say("great, thanks", "thank", 0.98)
    s.reply("utter_youre_welcome", "You're welcome! Anything else I can help with?")
    s.listen()


def _refund_ticket(s: _Script) -> dict[str, Any]:
    s.say("I was charged twice for Teams, I want my money back", "request_refund", 0.92)
    s.reply(
        "action_file_ticket",
        "I've filed a ticket with the billing desk; they answer within one working day.",
    )
    s.listen()
    return {
        "category": TicketCategory.COMMERCIAL,
        "topic": "refund",
        "summary": "Charged twice for Microsoft Teams",
        "product_kind": ProductKind.LICENSE,
    }


def _technical_ticket(s: _Script) -> dict[str, Any]:
    s.say(
        "Outlook keeps crashing for everyone since Monday",
        "report_technical_issue",
        0.9,
    )
    s.reply(
        "action_file_ticket",
        "That sounds like a technical issue; I've filed a ticket for the support team.",
    )
    s.listen()
    return {
        "category": TicketCategory.TECHNICAL,
        "topic": "technical_issue",
        "summary": "Outlook crashes for all users",
        "product_kind": ProductKind.LICENSE,
    }


SCENARIOS = (
    ("invoice", 12),
    ("charge", 8),
    ("payment_methods", 5),
    ("support_hours", 4),
    ("fallback", 7),
    ("low_confidence", 6),
    ("card_declined", 3),
    ("handoff", 5),
    ("refund_ticket", 5),
    ("technical_ticket", 5),
)


def _plan(rng: random.Random, count: int) -> Iterator[str]:
    names = [name for name, weight in SCENARIOS for _ in range(weight)]
    for index in range(count):
        yield names[index % len(names)] if index < len(names) else rng.choice(names)


def seed_dashboard_demo(
    session: Session,
    *,
    conversations: bool = True,
    now: Optional[datetime] = None,
) -> DashboardDemoSummary:
    """Create the demo users and conversations (local mode; the caller commits)."""
    settings = get_settings()
    if settings.app_mode != "local":
        raise RuntimeError("the dashboard demo is for local mode only")
    users = 0
    for email, password, role, name in (
        (DEMO_LEAD_EMAIL, DEMO_LEAD_PASSWORD, DashboardRole.LEAD, "Demo lead"),
        (DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, DashboardRole.ADMIN, "Demo admin"),
        (DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DashboardRole.AGENT, DEMO_AGENT_NAME),
    ):
        if user_by_email(session, email) is None:
            create_lead(session, email, password, role, name=name)
            users += 1
    if not conversations:
        return DashboardDemoSummary(users, 0, 0)
    already = session.scalars(
        select(Conversation.id)
        .where(Conversation.sender_id.like(f"{DEMO_SENDER_PREFIX}%"))
        .limit(1)
    ).first()
    if already is not None:
        return DashboardDemoSummary(users, 0, 0)
    now = now or utcnow()
    rng = random.Random("csp-billing-desk-dashboard-demo")  # noqa: S311 (demo data)
    customers = list(session.scalars(select(Customer).order_by(Customer.id)))
    created = tickets = 0
    next_id = 1
    for index, scenario in enumerate(_plan(rng, DEMO_CONVERSATIONS)):
        sender = f"{DEMO_SENDER_PREFIX}{index + 1:03d}"
        start = (now - timedelta(days=rng.randrange(1, DEMO_DAYS + 1))).replace(
            hour=rng.randrange(7, 19),
            minute=rng.randrange(60),
            second=rng.randrange(60),
            microsecond=0,
        )
        customer = customers[index % len(customers)] if customers else None
        anonymous = customer is None or index % 9 == 4
        token = (
            None
            if anonymous or customer is None
            else mint_customer_token(
                settings.chat_token_secret,
                tenant_id=customer.tenant_id,
                user_id=f"demo.user@{customer.domain}",
                name="Demo user",
                ttl_seconds=settings.chat_token_ttl_seconds,
                now=start.timestamp(),
            )
        )
        channel = "rest" if anonymous else rng.choice(["socketio", "socketio", "rest"])
        script = _Script(start, channel, token)
        number = f"G{24101 + rng.randrange(400):09d}"
        ticket: Optional[dict[str, Any]] = None
        if scenario == "invoice":
            _invoice(script, number)
        elif scenario == "charge":
            _charge(script, number)
        elif scenario == "payment_methods":
            _payment_methods(script)
        elif scenario == "support_hours":
            _support_hours(script)
        elif scenario == "fallback":
            _fallback(script)
        elif scenario == "low_confidence":
            _low_confidence(script)
        elif scenario == "card_declined":
            _card_declined(script)
        elif scenario == "handoff":
            _handoff(script)
        elif scenario == "refund_ticket":
            ticket = _refund_ticket(script)
        else:
            ticket = _technical_ticket(script)
        if ticket is not None and customer is not None and not anonymous:
            filed, _ = create_ticket(
                session,
                new=NewTicket(
                    partner_id=customer.partner_id,
                    customer_id=customer.id,
                    requester=f"customer:{customer.tenant_id}:demo.user@{customer.domain}",
                    category=ticket["category"],
                    topic=ticket["topic"],
                    summary=ticket["summary"],
                    description=ticket["summary"] + " (reported in the chat).",
                    idempotency_key=f"{sender}:ticket",
                    conversation_id=sender,
                    product_kind=ticket["product_kind"],
                    severity=Severity.C,
                    transcript_excerpt=[
                        {"from": "user", "text": str(e.get("text"))}
                        for e in script.events
                        if e["event"] == "user"
                    ],
                ),
                today=start.date(),
            )
            filed.created_at = filed.updated_at = start + timedelta(minutes=1)
            tickets += 1
        events = []
        for data in script.events:
            events.append(
                TrackerEvent(
                    id=next_id,
                    sender_id=sender,
                    type_name=data["event"],
                    timestamp=float(data["timestamp"]),
                    data=data,
                )
            )
            next_id += 1
        apply_events(session, events, settings=settings)
        created += 1
    session.flush()
    return DashboardDemoSummary(users, created, tickets)
