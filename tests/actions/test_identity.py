"""Who is chatting: only a verified chat token counts."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session

from actions.identity import (
    ACTING_FOR_SLOT,
    Identification,
    Target,
    chat_identity,
    identify,
    resolve_chatter,
    target_customer,
)
from api.demo.seed import DemoSummary
from api.domain.models import Customer
from api.settings import get_settings
from common.identity import mint_customer_token, mint_staff_token
from tests.actions.billing_helpers import (
    FB_BILLING_ADMIN,
    LW_INACTIVE_SALES,
    NW_BILLING_ADMIN,
    NW_GLOBAL_ADMIN,
    NW_SALES,
    customer,
    staff,
)
from tests.actions.helpers import customer_token as demo_customer_token
from tests.actions.helpers import make_tracker, signed_in, staff_token

TENANT = "4f1c2d3e-0000-4000-8000-000000000001"


def customer_token(secret: str | None = None, **kwargs: object) -> str:
    return mint_customer_token(
        secret or get_settings().chat_token_secret,
        tenant_id=TENANT,
        user_id="alex@contoso.example",
        **kwargs,  # type: ignore[arg-type]
    )


def test_token_from_the_message_being_handled() -> None:
    tracker = make_tracker(message_metadata={"chat_token": customer_token()})
    identity = chat_identity(tracker)
    assert identity is not None
    assert identity.kind == "customer"
    assert identity.tenant_id == TENANT


def test_a_token_left_by_an_earlier_message_identifies_nobody() -> None:
    """The takeover: Contoso's token started the session (Rasa keeps it in the
    `session_started_metadata` slot); a message without a token, posted under
    the same sender id, must not be answered as Contoso."""
    tracker = make_tracker(
        session_metadata={"chat_token": customer_token()}, message_metadata={}
    )
    assert chat_identity(tracker) is None


def test_another_tenants_token_on_the_message_wins_over_the_session() -> None:
    other = mint_customer_token(
        get_settings().chat_token_secret,
        tenant_id="9a9a9a9a-0000-4000-8000-000000000009",
        user_id="eve@fabrikam.example",
    )
    tracker = make_tracker(
        session_metadata={"chat_token": customer_token()},
        message_metadata={"chat_token": other},
    )
    identity = chat_identity(tracker)
    assert identity is not None
    assert identity.tenant_id == "9a9a9a9a-0000-4000-8000-000000000009"


def test_a_fresh_token_replaces_an_expired_session_token() -> None:
    expired = customer_token(now=time.time() - 7200, ttl_seconds=60)
    tracker = make_tracker(
        session_metadata={"chat_token": expired},
        message_metadata={"chat_token": customer_token()},
    )
    identity = chat_identity(tracker)
    assert identity is not None and identity.tenant_id == TENANT


def test_partner_staff() -> None:
    token = mint_staff_token(
        get_settings().chat_token_secret,
        platform="teams",
        platform_user_id="aad-object-id-7",
        name="Pat",
    )
    identity = chat_identity(make_tracker(session_metadata={"chat_token": token}))
    assert identity is not None
    assert identity.kind == "staff" and identity.subject == "aad-object-id-7"


def test_no_token_is_nobody() -> None:
    assert chat_identity(make_tracker()) is None
    assert chat_identity(make_tracker(session_metadata={"other": "x"})) is None


def test_expired_forged_or_garbage_tokens_are_nobody() -> None:
    expired = customer_token(now=time.time() - 7200, ttl_seconds=60)
    forged = customer_token(secret="not-the-real-secret-at-all-but-long-enough")
    for token in (expired, forged, "not-a-jwt", 42, ""):
        tracker = make_tracker(
            session_metadata={"chat_token": token},
            message_metadata={"chat_token": token},
        )
        assert chat_identity(tracker) is None, token


def test_entities_and_text_never_identify() -> None:
    tracker = make_tracker(
        text=f"I am tenant {TENANT}",
        entities={"tenant_id": TENANT, "customer": "Contoso"},
    )
    assert chat_identity(tracker) is None


# --------------------------------------------------------------------------- resolve


def _resolve(
    session: Session, token: str | None, **tracker_args: object
) -> Identification:
    tracker = make_tracker(session_metadata=signed_in(token), **tracker_args)  # type: ignore[arg-type]
    return identify(session, tracker)


def test_a_customer_resolves_to_their_tenant_partner_and_role(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("overdue_invoice")
    tracker = make_tracker(
        session_metadata=signed_in(demo_customer_token(case.tenant_id))
    )
    chatter = resolve_chatter(seeded_session, tracker)
    assert chatter is not None
    assert chatter.role == "customer" and not chatter.is_staff
    assert chatter.customer is not None and chatter.customer.domain == case.domain
    assert chatter.partner.slug == "northwind"
    assert chatter.partner_user is None
    assert chatter.can("view_invoices") and not chatter.can("act_for_customers")


@pytest.mark.parametrize(
    ("platform", "slack_id", "role", "partner"),
    [
        ("slack", NW_BILLING_ADMIN, "billing_admin", "northwind"),
        ("slack", NW_SALES, "sales_agent", "northwind"),
        ("teams", FB_BILLING_ADMIN, "billing_admin", "fabrikam"),
    ],
)
def test_staff_resolve_by_slack_id_or_aad_object_id(
    seeded_db: DemoSummary,
    seeded_session: Session,
    platform: str,
    slack_id: str,
    role: str,
    partner: str,
) -> None:
    user = staff(seeded_session, slack_id)
    subject = slack_id if platform == "slack" else str(user.aad_object_id)
    tracker = make_tracker(
        session_metadata=signed_in(staff_token(subject, platform=platform))
    )
    chatter = resolve_chatter(seeded_session, tracker)
    assert chatter is not None and chatter.is_staff
    assert chatter.partner_user is not None and chatter.partner_user.id == user.id
    assert chatter.role == role and chatter.partner.slug == partner
    assert chatter.customer is None


def test_an_aad_object_id_in_upper_case_is_the_same_user(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    user = staff(seeded_session, FB_BILLING_ADMIN)
    token = staff_token(str(user.aad_object_id).upper(), platform="teams")
    result = _resolve(seeded_session, token)
    assert result.chatter is not None and result.chatter.partner_user is not None
    assert result.chatter.partner_user.id == user.id


def test_a_slack_id_sent_as_a_teams_id_is_not_recognised(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    result = _resolve(seeded_session, staff_token(NW_BILLING_ADMIN, platform="teams"))
    assert result.chatter is None and result.problem == "utter_staff_unknown"


def test_unknown_and_inactive_staff_are_unidentified_with_a_reason(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    unknown = _resolve(seeded_session, staff_token("U0NOBODY00"))
    assert unknown.chatter is None and unknown.problem == "utter_staff_unknown"
    inactive = _resolve(seeded_session, staff_token(LW_INACTIVE_SALES))
    assert inactive.chatter is None and inactive.problem == "utter_staff_inactive"


def test_no_token_and_unbilled_tenant(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    assert _resolve(seeded_session, None).problem == "utter_sign_in_needed"
    stranger = _resolve(seeded_session, demo_customer_token(TENANT))
    assert stranger.chatter is None and stranger.problem == "utter_account_not_found"


def test_typed_identity_never_counts(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("overdue_invoice")
    tracker = make_tracker(
        text=f"I am {NW_GLOBAL_ADMIN}, tenant {case.tenant_id}",
        entities={"tenant_id": case.tenant_id, "customer": case.customer},
    )
    assert resolve_chatter(seeded_session, tracker) is None


# --------------------------------------------------------------------------- target


def _staff_target(session: Session, slack_id: str, **tracker_args: object) -> Target:
    tracker = make_tracker(
        session_metadata=signed_in(staff_token(slack_id)),
        **tracker_args,  # type: ignore[arg-type]
    )
    chatter = resolve_chatter(session, tracker)
    assert chatter is not None
    return target_customer(session, chatter, tracker)


@pytest.mark.parametrize(
    ("named", "how"),
    [
        ("Contoso", "customer"),
        ("contoso ltd", "customer"),
        ("Contoso's", "customer"),
        ("contoso.com", "text"),
        ("7d42ce78-d321-5d35-b202-3916176fc7ed", "tenant_id"),
        ("7d42ce78-d321-5d35-b202-3916176fc7ed", "text"),
    ],
)
def test_staff_name_their_customer_by_name_domain_or_tenant(
    seeded_db: DemoSummary, seeded_session: Session, named: str, how: str
) -> None:
    entities = {how: named} if how != "text" else None
    target = _staff_target(
        seeded_session,
        NW_BILLING_ADMIN,
        text=f"latest invoice for {named}",
        entities=entities,
    )
    assert target.customer is not None and target.customer.domain == "contoso.com"
    assert target.named


@pytest.mark.parametrize(
    ("named", "how"),
    [
        ("Woodgrove Bank", "customer"),
        ("woodgrovebank.com", "text"),
        ("3b54e058-a443-593c-8eb6-dc4b030736f2", "tenant_id"),
    ],
)
def test_another_partners_customer_is_not_found_like_an_unknown_one(
    seeded_db: DemoSummary, seeded_session: Session, named: str, how: str
) -> None:
    entities = {how: named} if how != "text" else None
    theirs = _staff_target(
        seeded_session, NW_BILLING_ADMIN, text=f"invoice for {named}", entities=entities
    )
    assert theirs.customer is None and theirs.problem == "utter_customer_not_found"
    assert theirs.values == {"customer_name": named}
    nobody = _staff_target(
        seeded_session,
        NW_BILLING_ADMIN,
        text="invoice for Harbor Logistics",
        entities={"customer": "Harbor Logistics"},
    )
    assert nobody.problem == theirs.problem


def test_remembered_customer_is_used_and_rechecked(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    woodgrove = customer(seeded_session, "woodgrovebank.com")
    remembered = _staff_target(
        seeded_session,
        NW_BILLING_ADMIN,
        text="and the one before?",
        slots={ACTING_FOR_SLOT: str(contoso.id)},
    )
    assert remembered.customer is not None and remembered.customer.id == contoso.id
    assert not remembered.named
    # A slot pointing at another partner's customer is ignored.
    forged = _staff_target(
        seeded_session,
        NW_BILLING_ADMIN,
        text="and the one before?",
        slots={ACTING_FOR_SLOT: str(woodgrove.id)},
    )
    assert forged.customer is None and forged.problem == "utter_name_the_customer"


def test_a_partial_name_is_searched_within_the_partner_only(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    target = _staff_target(
        seeded_session,
        FB_BILLING_ADMIN,
        text="invoice for the Toys company",
        entities={"customer": "Toys"},
    )
    # Fabrikam has one "Toys" customer (Tailspin); Northwind has Wingtip Toys.
    assert target.customer is not None and target.customer.domain == "tailspintoys.com"


def test_a_customer_always_gets_their_own_account(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    case = seeded_db.case("overdue_invoice")
    tracker = make_tracker(
        session_metadata=signed_in(demo_customer_token(case.tenant_id)),
        text="invoice for Contoso",
        entities={"customer": "Contoso"},
    )
    chatter = resolve_chatter(seeded_session, tracker)
    assert chatter is not None
    target = target_customer(seeded_session, chatter, tracker)
    assert target.customer is not None and target.customer.domain == case.domain


def test_an_ambiguous_name_asks_which(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    seeded_session.add(
        Customer(
            partner_id=contoso.partner_id,
            name="Contoso Pharmaceuticals",
            domain="contosopharma.example",
            tenant_id="11111111-2222-4333-8444-555555555555",
            billing_email="ap@contosopharma.example",
            country="US",
            currency="USD",
        )
    )
    seeded_session.commit()
    target = _staff_target(
        seeded_session,
        NW_BILLING_ADMIN,
        text="invoice for Cont",
        entities={"customer": "Cont"},
    )
    assert target.customer is None and target.problem == "utter_customer_ambiguous"
    assert target.values["candidates"] == "Contoso Ltd, Contoso Pharmaceuticals"
