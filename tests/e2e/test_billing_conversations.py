"""End to end: billing conversations with the real Rasa, action server and API,
started the way `make run` starts them, for a customer (widget token) and for
partner staff (Slack/Teams staff tokens), over Rasa's REST channel.

One stack for the whole module. The demo is seeded with today as its anchor, so the
notable cases (overdue invoice, suspension, an order inside its 7-day window) are
there whatever the date; expected figures are read from the stack's database.

    RASA_MODEL=/tmp/issue4-model/csp.tar.gz .venv/bin/pytest tests/e2e/test_billing_conversations.py
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Optional

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from actions.invoices import expected_availability
from actions.subscriptions import eligibilities
from api.domain.db import make_engine
from api.domain.models import Customer, DocumentType, Invoice, PartnerUser, Ticket
from api.domain.services.billing import latest_invoice
from api.domain.services.periods import parse_billing_period
from common.formatting import format_date, local_today
from common.identity import mint_customer_token, mint_staff_token
from tests.e2e.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

URL = re.compile(r"https?://[^\s)\]]+")  # a markdown link ends at ")"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("billing-stack"))
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def db(stack: Stack) -> Iterator[Engine]:
    engine = make_engine(stack.env["DATABASE_URL"])
    yield engine
    engine.dispose()


class Chat:
    """One conversation: a sender id and the chatter's token on every message."""

    def __init__(self, stack: Stack, token: Optional[str]) -> None:
        self.stack = stack
        self.sender = f"e2e-billing-{uuid.uuid4()}"
        self.token = token
        self.last: list[dict[str, Any]] = []

    def say(self, text: str) -> str:
        metadata = {"chat_token": self.token} if self.token else None
        self.last = self.stack.say(self.sender, text, metadata)
        return "\n".join(reply.get("text", "") for reply in self.last)

    def buttons(self) -> list[dict[str, Any]]:
        return [b for reply in self.last for b in reply.get("buttons") or []]


def customer_chat(stack: Stack, domain: str) -> Chat:
    with Session(make_engine(stack.env["DATABASE_URL"])) as session:
        tenant = session.scalars(
            select(Customer.tenant_id).where(Customer.domain == domain)
        ).one()
    return Chat(
        stack,
        mint_customer_token(
            stack.env["CHAT_TOKEN_SECRET"], tenant_id=tenant, user_id=f"alex@{domain}"
        ),
    )


def staff_chat(stack: Stack, slack_id: str, platform: str = "slack") -> Chat:
    subject = slack_id
    if platform == "teams":
        with Session(make_engine(stack.env["DATABASE_URL"])) as session:
            subject = str(
                session.scalars(
                    select(PartnerUser.aad_object_id).where(
                        PartnerUser.slack_user_id == slack_id
                    )
                ).one()
            )
    return Chat(
        stack,
        mint_staff_token(
            stack.env["CHAT_TOKEN_SECRET"],
            platform=platform,  # type: ignore[arg-type]
            platform_user_id=subject,
        ),
    )


def latest_of(db: Engine, domain: str) -> Invoice:
    with Session(db, expire_on_commit=False) as session:
        customer = session.scalars(
            select(Customer).where(Customer.domain == domain)
        ).one()
        invoice = latest_invoice(session, customer_id=customer.id)
        assert invoice is not None
        session.expunge(invoice)
        return invoice


def money(invoice: Invoice) -> str:
    return f"{invoice.total:,.2f} {invoice.currency}"


# --------------------------------------------------------------------------- invoices


def test_customer_gets_the_latest_invoice_with_a_working_pdf_link(
    stack: Stack, db: Engine
) -> None:
    invoice = latest_of(db, "contoso.com")
    chat = customer_chat(stack, "contoso.com")
    chat.say("hello")
    answer = chat.say("show me my latest invoice")
    assert invoice.number in answer and money(invoice) in answer, answer
    assert "Due date:" in answer and "Status:" in answer
    assert "G-series (new commerce)" in answer
    link = URL.search(answer)
    assert link is not None, answer
    pdf = httpx.get(link.group(), timeout=30)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")

    # The same link with another invoice's id is refused.
    with Session(db) as session:
        other = session.scalars(
            select(Invoice).join(Customer).where(Customer.domain == "woodgrovebank.com")
        ).first()
        assert other is not None
        other_id = other.id
    forged = re.sub(r"/invoices/\d+\.pdf", f"/invoices/{other_id}.pdf", link.group())
    assert httpx.get(forged, timeout=30).status_code == 403


def test_customer_asks_by_number_and_by_period(stack: Stack, db: Engine) -> None:
    with Session(db) as session:
        contoso = session.scalars(
            select(Customer).where(Customer.domain == "contoso.com")
        ).one()
        invoices = sorted(
            (i for i in contoso.invoices if i.document_type is DocumentType.INVOICE),
            key=lambda i: i.invoice_date,
        )
        older = invoices[-3]
        number, total = older.number, f"{older.total:,.2f}"
        # "Last month" in the partner's time zone; in the first days of a month
        # its invoice is not out yet, and the bot must say when it will be.
        today = local_today(datetime.now(timezone.utc), contoso.partner.timezone)
        last_month = parse_billing_period("last month", today=today)
        issued = [
            i.number
            for i in invoices
            if last_month.start <= i.billing_period_start <= last_month.end
        ]
    chat = customer_chat(stack, "contoso.com")
    answer = chat.say(f"can you show me invoice {number}?")
    assert number in answer and total in answer, answer
    answer = chat.say("can you send me the invoice for last month")
    if issued:
        assert issued[-1] in answer, answer
    else:
        available_by = expected_availability(last_month)
        assert available_by > today, f"the demo has no invoice for {last_month.label}"
        assert last_month.label in answer, answer
        assert format_date(available_by) in answer, answer
        # The newest invoice may follow, but never as last month's.
        assert f"no invoice for {last_month.label}" in answer, answer


def test_customer_cannot_read_another_customers_invoice(
    stack: Stack, db: Engine
) -> None:
    theirs = latest_of(db, "woodgrovebank.com")
    chat = customer_chat(stack, "contoso.com")
    answer = chat.say(f"can you show me invoice {theirs.number}?")
    assert f"can't find invoice {theirs.number}" in answer, answer
    assert money(theirs) not in answer and "Woodgrove" not in answer


def test_staff_ask_for_a_customers_invoice_and_follow_up(
    stack: Stack, db: Engine
) -> None:
    invoice = latest_of(db, "contoso.com")
    chat = staff_chat(stack, "U0NW0BILL1")  # Northwind billing admin, Slack
    answer = chat.say("show me the latest invoice for Contoso")
    assert invoice.number in answer and "Contoso Ltd" in answer, answer
    # The customer is remembered: a follow-up about charges needs no name.
    answer = chat.say("why is the bill so high?")
    assert invoice.number in answer, answer
    assert "previous invoice" in answer or "first invoice" in answer, answer


def test_staff_of_one_partner_cannot_reach_another_partners_customer(
    stack: Stack, db: Engine
) -> None:
    theirs = latest_of(db, "woodgrovebank.com")  # Fabrikam's customer
    chat = staff_chat(stack, "U0NW0GADM1", platform="teams")  # Northwind admin
    answer = chat.say("show me the latest invoice for Woodgrove Bank")
    assert "among your customers" in answer, answer
    assert theirs.number not in answer and money(theirs) not in answer
    answer = chat.say(f"can you show me invoice {theirs.number}?")
    assert theirs.number in answer and "can't find invoice" in answer, answer
    assert money(theirs) not in answer


def test_a_sales_agent_is_told_which_roles_see_invoices(stack: Stack) -> None:
    chat = staff_chat(stack, "U0NW0SALE1")
    answer = chat.say("show me the latest invoice for Contoso")
    assert "Sales agent" in answer and "Billing admin" in answer, answer


def test_unknown_and_anonymous_chatters_get_general_answers(stack: Stack) -> None:
    unknown = staff_chat(stack, "U0NOBODY99")
    answer = unknown.say("show me my latest invoice")
    assert "don't recognise your account" in answer, answer
    anonymous = Chat(stack, None)
    answer = anonymous.say("what are your support hours?")
    assert "sign in" in answer.lower(), answer


# --------------------------------------------------------------------------- charges


def test_customer_gets_the_charges_explained(stack: Stack, db: Engine) -> None:
    invoice = latest_of(db, "contoso.com")
    chat = customer_chat(stack, "contoso.com")
    answer = chat.say("why is my bill so high?")
    assert f"Invoice {invoice.number}" in answer, answer
    assert "Together:" in answer and "Tax:" in answer, answer


# --------------------------------------------------------------------------- payments


def test_overdue_customer_hears_status_timeline_and_how_to_pay(
    stack: Stack, db: Engine
) -> None:
    chat = customer_chat(stack, "alpineskihouse.com")
    answer = chat.say("do I have any overdue invoices")
    assert "overdue by" in answer, answer
    assert "collections policy" in answer, answer
    assert "still billed" in answer, answer
    answer = chat.say("how can I pay my invoice?")
    assert "Northwind Cloud Services accepts" in answer, answer
    answer = chat.say("my card payment failed")
    assert "didn't go through" in answer, answer


def test_staff_hear_the_customers_payment_status_and_microsofts_rule(
    stack: Stack,
) -> None:
    chat = staff_chat(stack, "U0NW0BILL1")
    chat.say("show me the latest invoice for Alpine Ski House")
    answer = chat.say("do they have any overdue invoices")
    assert "Outstanding on Alpine Ski House" in answer, answer
    assert "60 days overdue" in answer, answer


# --------------------------------------------------------------------------- suspension


def test_suspended_access_is_explained(stack: Stack) -> None:
    chat = customer_chat(stack, "alpineskihouse.com")
    answer = chat.say("our access has been suspended")
    assert "Microsoft 365 Business Premium" in answer, answer
    assert "non-payment" in answer and "overdue" in answer, answer
    assert "To restore access, pay the overdue balance" in answer, answer

    staff = staff_chat(stack, "U0NW0BILL1")
    staff.say("show me the latest invoice for Alpine Ski House")
    answer = staff.say("why is the subscription suspended")
    assert "Suspended on Alpine Ski House" in answer, answer


# --------------------------------------------------------------------------- support


def test_support_info_from_the_partners_profile(stack: Stack) -> None:
    chat = customer_chat(stack, "treyresearch.net")
    answer = chat.say("what are your support hours?")
    assert "Litware Partners" in answer and "9:00-17:00 Central Time" in answer, answer
    staff = staff_chat(stack, "U0FB0HELP1")  # Fabrikam helpdesk agent
    answer = staff.say("what are your support hours?")
    assert "Fabrikam IT Solutions" in answer, answer


# --------------------------------------------------------------------------- refunds


def test_customer_files_a_refund_request_through_the_form(
    stack: Stack, db: Engine
) -> None:
    chat = customer_chat(stack, "treyresearch.net")
    answer = chat.say("I want a refund")
    # Bought 3 days before the demo's anchor: inside its 7 days, to the hour.
    assert re.search(
        r"Microsoft 365 Copilot \(5 seats\): bought on .+, so you can still cancel up "
        r"to 5 seats for a prorated refund, until .+ \(7 days after the purchase\)",
        answer,
    ), answer
    assert "Please answer" not in answer, answer
    assert "Which subscription is the request about?" in answer, answer
    buttons = chat.buttons()
    assert [b["title"] for b in buttons] == ["Microsoft 365 Copilot (up to 5 seats)"]

    answer = chat.say("Excel")  # not a subscription
    assert "isn't one of the subscriptions" in answer, answer
    answer = chat.say("7")  # second bad answer (no 7th): the field is explained
    assert "Only subscriptions still inside their cancellation window" in answer, answer

    answer = chat.say(buttons[0]["payload"])
    assert "How many seats of Microsoft 365 Copilot" in answer, answer
    answer = chat.say("10 billion")
    assert "between 1 and 5 seats" in answer, answer
    answer = chat.say("2")
    assert "why" in answer.lower(), answer
    answer = chat.say("we bought more than we need")
    assert "Please confirm" in answer and "2 seats of Microsoft 365 Copilot" in answer
    answer = chat.say("yes")
    match = re.search(r"ticket (CSP-\d+)", answer)
    assert match, answer

    with Session(db) as session:
        ticket = session.scalars(
            select(Ticket).where(Ticket.public_id == match.group(1))
        ).one()
        assert ticket.category.value == "commercial" and ticket.topic == "refund"
        assert ticket.idempotency_key.startswith(f"{chat.sender}:")
        assert ticket.packet["identifiers"]["seats"] == 2


def test_staff_start_a_cancellation_and_stop_it(stack: Stack, db: Engine) -> None:
    with Session(db) as session:
        before = len(session.scalars(select(Ticket)).all())
    chat = staff_chat(stack, "U0LW0GADM1")  # Litware global admin
    chat.say("show me the latest invoice for Trey Research")
    answer = chat.say("I want to cancel my subscription")
    assert "Microsoft 365 Copilot" in answer and "Which subscription" in answer, answer
    answer = chat.say("stop")
    assert "nothing was filed" in answer.lower(), answer
    with Session(db) as session:
        assert len(session.scalars(select(Ticket)).all()) == before


def eligible_today(session: Session, customer: Customer) -> Optional[list[str]]:
    """The customer's subscriptions a refund could cancel today, in its partner's
    time zone (monthly terms open a new window every month); None if it has none."""
    options = eligibilities(session, customer, datetime.now(timezone.utc))
    if not options:
        return None
    return [
        eligibility.product_name for _, eligibility in options if eligibility.eligible
    ]


def test_nothing_eligible_and_absurd_amounts(stack: Stack, db: Engine) -> None:
    with Session(db) as session:
        customers = session.scalars(select(Customer).order_by(Customer.id)).all()
        windows = {c.domain: eligible_today(session, c) for c in customers}
    contoso = windows["contoso.com"]
    assert contoso is not None
    nothing = next(domain for domain, names in windows.items() if names == [])
    for domain, eligible in (("contoso.com", contoso), (nothing, [])):
        answer = customer_chat(stack, domain).say("I want a refund")
        if eligible:  # the first days of Teams Phone's monthly term
            assert "Which subscription" in answer, answer
            assert all(name in answer for name in eligible), (eligible, answer)
        else:
            assert "can't be cancelled for a refund now" in answer, answer
            assert "can be cancelled for a refund right now" in answer, answer
            assert "Which subscription" not in answer, answer
    chat = customer_chat(stack, "treyresearch.net")
    answer = chat.say("refund 10 billion dollars")
    assert "more than everything ever billed" in answer, answer
