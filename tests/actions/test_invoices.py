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
from api.domain.models import Customer, DocumentType, Invoice
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
        "forged": customer_token(
            case.tenant_id, secret="someone-elses-secret-key-of-proper-length"
        ),
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


# --------------------------------------------------------------------------- references


def invoices_of(session: Session, tenant_id: str, series: str = "G") -> list[Invoice]:
    """The customer's invoices of one series (no credit notes), oldest first."""
    found = customer_by_tenant(session, tenant_id=tenant_id)
    assert found is not None
    return sorted(
        (
            i
            for i in found.invoices
            if i.document_type is DocumentType.INVOICE and i.number[0] == series
        ),
        key=lambda i: i.invoice_date,
    )


async def refer(
    summary: DemoSummary,
    tenant_id: str,
    ref: str,
    *,
    current: Optional[str] = None,
    text: str = "and the one before that?",
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Ask with the `invoice_ref` entity while the conversation is about `current`:
    the responses sent, the texts, and the slots set."""
    tracker = make_tracker(
        session_metadata={"chat_token": customer_token(tenant_id)},
        text=text,
        entities={"invoice_ref": ref},
        slots={CURRENT_INVOICE_SLOT: current} if current else None,
    )
    dispatcher = CollectingDispatcher()
    events = await action_for(summary).run(dispatcher, tracker, {})
    names = [m["response"] for m in dispatcher.messages]
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return names, render(dispatcher), slots


async def test_the_one_before_that_is_before_the_invoice_just_discussed(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """After the June invoice (the price rise), "the one before that" is May's;
    asked again, April's: each answer moves what the conversation is about."""
    case = seeded_db.case("price_rise")
    assert case.invoice_number and case.related_invoice_number
    names, texts, slots = await refer(
        seeded_db, case.tenant_id, "previous", current=case.invoice_number
    )
    assert names == ["utter_invoice_found"]
    assert f"Here is invoice {case.related_invoice_number}" in texts[0]
    assert slots == {CURRENT_INVOICE_SLOT: case.related_invoice_number}

    series = invoices_of(seeded_session, case.tenant_id)
    numbers = [i.number for i in series]
    before_that = numbers[numbers.index(case.related_invoice_number) - 1]
    _, texts, slots = await refer(
        seeded_db, case.tenant_id, "previous", current=slots[CURRENT_INVOICE_SLOT]
    )
    assert f"Here is invoice {before_that}" in texts[0]
    assert slots == {CURRENT_INVOICE_SLOT: before_that}


async def test_references_skip_credit_notes(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Contoso's credit note sits between its September and October invoices:
    "the next one" after September is October's invoice, and "the one before"
    October's is September's."""
    case = seeded_db.case("credit_note")
    amended = case.related_invoice_number
    numbers = [i.number for i in invoices_of(seeded_session, case.tenant_id)]
    assert amended is not None
    october = numbers[numbers.index(amended) + 1]

    _, texts, _ = await refer(
        seeded_db, case.tenant_id, "next", current=amended, text="and the next one?"
    )
    assert f"Here is invoice {october}" in texts[0]
    assert case.invoice_number not in texts[0]
    _, texts, _ = await refer(seeded_db, case.tenant_id, "previous", current=october)
    assert f"Here is invoice {amended}" in texts[0]


async def test_without_an_invoice_in_the_conversation_the_newest_is_the_start(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("credit_note")
    numbers = [i.number for i in invoices_of(seeded_session, case.tenant_id)]
    _, texts, _ = await refer(seeded_db, case.tenant_id, "previous")
    assert f"Here is invoice {numbers[-2]}" in texts[0]


@pytest.mark.parametrize(
    ("ref", "end", "response"),
    [
        ("previous", 0, "utter_no_invoice_before"),
        ("next", -1, "utter_no_invoice_after"),
    ],
)
async def test_nothing_before_the_first_or_after_the_newest(
    seeded_db: DemoSummary,
    seeded_session: Session,
    ref: str,
    end: int,
    response: str,
) -> None:
    case = seeded_db.case("credit_note")
    edge = invoices_of(seeded_session, case.tenant_id)[end].number
    names, texts, slots = await refer(seeded_db, case.tenant_id, ref, current=edge)
    assert names == [response]
    assert edge in texts[0]
    assert slots == {}  # still about the same invoice


async def test_the_first_one(seeded_db: DemoSummary, seeded_session: Session) -> None:
    case = seeded_db.case("credit_note")
    first = invoices_of(seeded_session, case.tenant_id)[0].number
    _, texts, slots = await refer(
        seeded_db,
        case.tenant_id,
        "first",
        current="G000024176",
        text="show me the very first one",
    )
    assert f"Here is invoice {first}" in texts[0]
    assert slots == {CURRENT_INVOICE_SLOT: first}


async def test_a_reference_stays_in_the_series_of_the_invoice_discussed(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """Adventure Works has legacy (D) and new-commerce (G) invoices: the one before
    a D invoice is the D invoice before it."""
    case = seeded_db.case("legacy_invoice")
    assert case.invoice_number is not None
    legacy = [i.number for i in invoices_of(seeded_session, case.tenant_id, "D")]
    _, texts, _ = await refer(
        seeded_db, case.tenant_id, "previous", current=case.invoice_number
    )
    before = legacy[legacy.index(case.invoice_number) - 1]
    assert f"Here is invoice {before}" in texts[0]


async def test_another_customers_invoice_is_never_the_reference(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    """A remembered number that is not this customer's (Alpine Ski House's, in a
    Contoso conversation) is ignored: the reference starts from Contoso's newest."""
    contoso = seeded_db.case("credit_note")
    alpine = seeded_db.case("overdue_invoice")
    assert alpine.invoice_number and alpine.related_invoice_number
    numbers = [i.number for i in invoices_of(seeded_session, contoso.tenant_id)]
    _, texts, _ = await refer(
        seeded_db, contoso.tenant_id, "previous", current=alpine.invoice_number
    )
    assert f"Here is invoice {numbers[-2]}" in texts[0]
    for number in (alpine.invoice_number, alpine.related_invoice_number):
        assert number not in texts[0]
