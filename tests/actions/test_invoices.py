"""action_invoice_lookup against the demo data (tests/conftest.py: seeded_db).

Expected figures are read from the database in each test, never written down.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from datetime import time as clock_time
from typing import Any, Optional

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from actions import runtime as runtime_module
from actions.invoices import (
    CURRENT_INVOICE_SLOT,
    ActionInvoiceLookup,
    requested_invoice_number,
)
from api.demo.seed import DemoSummary
from api.domain.models import Customer, Invoice
from api.domain.services.billing import customer_by_tenant, latest_invoice
from api.settings import get_settings
from common.identity import mint_customer_token, mint_staff_token
from tests.actions.billing_helpers import NW_BILLING_ADMIN, NW_SALES
from tests.actions.helpers import make_tracker, render


def customer_token(tenant_id: str, **kwargs: Any) -> str:
    return mint_customer_token(
        kwargs.pop("secret", None) or get_settings().chat_token_secret,
        tenant_id=tenant_id,
        user_id="alex@example.com",
        **kwargs,
    )


def action_for(summary: DemoSummary) -> ActionInvoiceLookup:
    """The action with its clock at midday UTC on the demo's "today"."""
    midday = datetime.combine(summary.anchor, clock_time(12), tzinfo=timezone.utc)
    return ActionInvoiceLookup(clock=lambda: midday)


async def ask(
    summary: DemoSummary,
    *,
    token: Optional[str],
    invoice_number: Optional[str] = None,
) -> tuple[list[str], list[dict[str, Any]], CollectingDispatcher]:
    """Run the action for a chatter holding `token`; the rendered replies and events."""
    tracker = make_tracker(
        session_metadata={"chat_token": token} if token else None,
        entities={"invoice_number": invoice_number} if invoice_number else None,
    )
    dispatcher = CollectingDispatcher()
    events = await action_for(summary).run(dispatcher, tracker, {})
    return render(dispatcher), events, dispatcher


def d(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def money(invoice: Invoice) -> str:
    return f"{invoice.total:,.2f} {invoice.currency}"


def invoice_numbered(session: Session, number: str) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


def assert_shows(text: str, invoice: Invoice) -> None:
    assert invoice.number in text
    assert money(invoice) in text
    assert d(invoice.billing_period_start) in text
    assert d(invoice.billing_period_end) in text
    assert d(invoice.due_date) in text


def other_customers_invoice(session: Session, not_tenant: str) -> Invoice:
    """An invoice of a customer other than the one whose tenant is `not_tenant`."""
    invoice = session.scalars(
        select(Invoice)
        .join(Customer)
        .where(Customer.tenant_id != not_tenant)
        .order_by(Invoice.id)
    ).first()
    assert invoice is not None
    return invoice


# --------------------------------------------------------------------------- customers


async def test_latest_invoice_of_the_signed_in_customer(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("usage_invoice")
    customer = customer_by_tenant(seeded_session, tenant_id=case.tenant_id)
    assert customer is not None
    invoice = latest_invoice(seeded_session, customer_id=customer.id)
    assert invoice is not None

    texts, events, dispatcher = await ask(
        seeded_db, token=customer_token(case.tenant_id)
    )

    assert [m["response"] for m in dispatcher.messages] == ["utter_invoice_latest"]
    assert_shows(texts[0], invoice)
    assert "The latest invoice for your account is" in texts[0]
    assert (
        "G-series (new commerce): it covers a calendar month, October 2026" in texts[0]
    )
    assert "became available on 8 November 2026" in texts[0]
    assert "/documents/invoices/" in texts[0]
    assert events == [SlotSet(CURRENT_INVOICE_SLOT, invoice.number)]


@pytest.mark.parametrize(
    ("case_key", "expected_status"),
    [
        ("overdue_invoice", "overdue"),
        ("partially_paid_invoice", "partially_paid"),
        ("legacy_invoice", None),
        ("price_rise", "paid"),
    ],
)
async def test_invoice_by_number_with_its_status(
    seeded_db: DemoSummary,
    seeded_session: Session,
    case_key: str,
    expected_status: Optional[str],
) -> None:
    case = seeded_db.case(case_key)
    assert case.invoice_number is not None
    invoice = invoice_numbered(seeded_session, case.invoice_number)
    status = invoice.payment_status(seeded_db.anchor)
    if expected_status is not None:
        assert status == expected_status  # the demo case is what it says

    texts, events, dispatcher = await ask(
        seeded_db,
        token=customer_token(case.tenant_id),
        invoice_number=case.invoice_number.lower(),  # as a user might type it
    )

    assert [m["response"] for m in dispatcher.messages] == ["utter_invoice_found"]
    text = texts[0]
    assert_shows(text, invoice)
    balance = f"{invoice.balance:,.2f} {invoice.currency}"
    if status == "overdue":
        days = (seeded_db.anchor - invoice.due_date).days
        assert f"overdue by {days} days" in text
        assert f"{balance} outstanding" in text
    elif status == "partially_paid":
        assert "partially paid" in text
        assert f"{invoice.paid_amount:,.2f} {invoice.currency} paid" in text
        assert f"{balance} outstanding" in text
    elif status == "paid":
        assert "Status: paid" in text
    else:
        assert "Status: unpaid, due " in text
    assert events == [SlotSet(CURRENT_INVOICE_SLOT, invoice.number)]


async def test_a_credit_note_by_number_names_the_invoice_it_corrects(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("credit_note")
    assert case.invoice_number and case.related_invoice_number
    note = invoice_numbered(seeded_session, case.invoice_number)

    texts, events, _ = await ask(
        seeded_db,
        token=customer_token(case.tenant_id),
        invoice_number=case.invoice_number,
    )

    assert "credit note" in texts[0]
    assert money(note) in texts[0]
    assert texts[1].startswith(f"It corrects invoice {case.related_invoice_number} (")
    assert events == [SlotSet(CURRENT_INVOICE_SLOT, note.number)]


async def test_another_customers_invoice_is_not_found_and_not_revealed(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    asker = seeded_db.case("usage_invoice")
    theirs = other_customers_invoice(seeded_session, asker.tenant_id)
    owner = theirs.customer

    texts, events, dispatcher = await ask(
        seeded_db, token=customer_token(asker.tenant_id), invoice_number=theirs.number
    )

    assert [m["response"] for m in dispatcher.messages] == ["utter_invoice_not_found"]
    assert dispatcher.messages[0]["invoice_number"] == theirs.number
    said = "\n".join(texts)
    assert f"can't find invoice {theirs.number}" in said
    for secret in (
        f"{theirs.total:,.2f}",
        owner.name,
        owner.domain,
        owner.tenant_id,
        d(theirs.due_date),
        d(theirs.billing_period_start),
    ):
        assert secret not in said
    assert events == [SlotSet(CURRENT_INVOICE_SLOT, None)]

    # Exactly what a number that exists nowhere gets.
    nowhere = "G999999999"
    assert not seeded_session.scalars(
        select(Invoice).where(Invoice.number == nowhere)
    ).first()
    unknown_texts, unknown_events, _ = await ask(
        seeded_db, token=customer_token(asker.tenant_id), invoice_number=nowhere
    )
    assert unknown_texts == [t.replace(theirs.number, nowhere) for t in texts]
    assert unknown_events == events


@pytest.mark.parametrize("typed", ["G12345", "X000024135", "invoice", "G0000241356"])
async def test_a_malformed_number_gets_a_format_hint(
    seeded_db: DemoSummary, seeded_session: Session, typed: str
) -> None:
    case = seeded_db.case("usage_invoice")

    texts, events, dispatcher = await ask(
        seeded_db, token=customer_token(case.tenant_id), invoice_number=typed
    )

    assert [m["response"] for m in dispatcher.messages] == [
        "utter_invoice_number_malformed"
    ]
    assert typed == "invoice" or typed not in texts[0]  # never echoed
    assert "D or a G followed by 9 digits" in texts[0]
    assert events == []


async def test_a_signed_in_tenant_without_a_billing_account(
    seeded_db: DemoSummary,
) -> None:
    token = customer_token("00000000-0000-4000-8000-00000000dead")

    texts, events, dispatcher = await ask(seeded_db, token=token)

    assert [m["response"] for m in dispatcher.messages] == [
        "utter_invoice_general",
        "utter_account_not_found",
    ]
    assert "can't find a billing account" in texts[1]
    assert events == []


async def test_a_customer_without_invoices(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    sibling = seeded_session.scalars(select(Customer).order_by(Customer.id)).first()
    assert sibling is not None
    tenant = "11111111-2222-4333-8444-555555555555"
    seeded_session.add(
        Customer(
            partner_id=sibling.partner_id,
            name="Brand New Ltd",
            domain="brandnew.example",
            tenant_id=tenant,
            billing_email="ap@brandnew.example",
            country=sibling.country,
            currency=sibling.currency,
        )
    )
    seeded_session.commit()

    _, events, dispatcher = await ask(seeded_db, token=customer_token(tenant))

    assert [m["response"] for m in dispatcher.messages] == ["utter_no_invoices"]
    assert events == []


# --------------------------------------------------------------------------- who asks


@pytest.mark.parametrize("holds", ["nothing", "expired", "forged"])
async def test_no_verified_identity_gets_the_sign_in_answer(
    seeded_db: DemoSummary, seeded_session: Session, holds: str
) -> None:
    case = seeded_db.case("usage_invoice")
    tokens = {
        "nothing": None,
        "expired": customer_token(
            case.tenant_id, now=time.time() - 7200, ttl_seconds=600
        ),
        "forged": customer_token(case.tenant_id, secret="someone-elses-secret-key"),
    }
    invoice = invoice_numbered(seeded_session, case.invoice_number or "")

    texts, events, dispatcher = await ask(
        seeded_db, token=tokens[holds], invoice_number=invoice.number
    )

    assert [m["response"] for m in dispatcher.messages] == [
        "utter_invoice_general",
        "utter_sign_in_needed",
    ]
    said = "\n".join(texts)
    assert "sign in" in said
    assert invoice.number not in said
    assert f"{invoice.total:,.2f}" not in said
    assert events == []


async def test_partner_staff_are_asked_to_name_the_customer(
    seeded_db: DemoSummary,
) -> None:
    token = mint_staff_token(
        get_settings().chat_token_secret, platform="slack", platform_user_id=NW_SALES
    )
    billing = mint_staff_token(
        get_settings().chat_token_secret,
        platform="slack",
        platform_user_id=NW_BILLING_ADMIN,
    )

    texts, events, dispatcher = await ask(seeded_db, token=billing)

    assert [m["response"] for m in dispatcher.messages] == ["utter_name_the_customer"]
    assert "Which customer" in texts[0]
    assert events == []

    # A Sales agent may not see invoices at all, and is told who can.
    texts, _, dispatcher = await ask(seeded_db, token=token)
    assert [m["response"] for m in dispatcher.messages] == ["utter_not_permitted"]
    assert "Sales agent" in texts[0]
    assert "Global admin or Billing admin" in texts[0]


async def test_an_unknown_staff_member_gets_general_answers(
    seeded_db: DemoSummary,
) -> None:
    token = mint_staff_token(
        get_settings().chat_token_secret, platform="slack", platform_user_id="U123"
    )
    _, events, dispatcher = await ask(seeded_db, token=token)
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_invoice_general",
        "utter_staff_unknown",
    ]
    assert events == []


# --------------------------------------------------------------------------- failures


async def test_a_database_failure_gets_a_clear_answer(
    seeded_db: DemoSummary, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextmanager
    def broken_session() -> Iterator[Session]:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))
        yield  # pragma: no cover

    monkeypatch.setattr(runtime_module, "session_scope", broken_session)
    case = seeded_db.case("usage_invoice")

    texts, events, dispatcher = await ask(
        seeded_db, token=customer_token(case.tenant_id)
    )

    assert [m["response"] for m in dispatcher.messages] == ["utter_billing_unavailable"]
    assert "locked" not in texts[0]
    assert events == []


def test_the_action_server_registers_the_action() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    assert "action_invoice_lookup" in executor.actions


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "entities", "expected"),
    [
        ("show me invoice G000024135", {"invoice_number": "G000024135"}, "G000024135"),
        ("invoice G12345 please", None, "G12345"),
        ("invoice g-0000241351?", None, "g-0000241351"),
        ("invoice G 000024135", None, "G 000024135"),
        ("what's on my D365 invoice", None, None),
        ("the invoice for 2026-10", None, None),
        ("my latest invoice", None, None),
        ("invoice for order G123456", {"order_id": "G123456"}, None),
    ],
)
def test_which_invoice_number_was_asked_for(
    text: str, entities: Optional[dict[str, str]], expected: Optional[str]
) -> None:
    tracker = make_tracker(text=text, entities=entities)
    assert requested_invoice_number(tracker) == expected


async def test_a_near_miss_that_nlu_did_not_extract_gets_the_hint(
    seeded_db: DemoSummary,
) -> None:
    case = seeded_db.case("usage_invoice")
    tracker = make_tracker(
        session_metadata={"chat_token": customer_token(case.tenant_id)},
        text="can I see invoice G12345 please",
    )
    dispatcher = CollectingDispatcher()

    events = await action_for(seeded_db).run(dispatcher, tracker, {})

    assert [m["response"] for m in dispatcher.messages] == [
        "utter_invoice_number_malformed"
    ]
    assert "D or a G followed by 9 digits" in render(dispatcher)[0]
    assert events == []
