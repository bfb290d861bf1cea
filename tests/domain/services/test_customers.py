"""api.domain.services.customers: staff find their own partner's customers only."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo.seed import DemoSummary
from api.domain.models import Partner
from api.domain.services.customers import (
    customer_of_partner,
    customers_mentioned,
    find_customers,
    name_key,
)


def partner(session: Session, slug: str) -> Partner:
    return session.scalars(select(Partner).where(Partner.slug == slug)).one()


@pytest.mark.parametrize(
    "query",
    [
        "Contoso",
        "contoso ltd",
        "CONTOSO LTD.",
        "Contoso's",
        "contoso.com",
        "7D42CE78-D321-5D35-B202-3916176FC7ED",
        "contoso",
    ],
)
def test_by_name_domain_or_tenant(
    seeded_db: DemoSummary, seeded_session: Session, query: str
) -> None:
    found = find_customers(
        seeded_session, partner_id=partner(seeded_session, "northwind").id, query=query
    )
    assert found.customer is not None and found.customer.domain == "contoso.com"


@pytest.mark.parametrize(
    ("query", "domain"),
    [
        ("Alpine", "alpineskihouse.com"),
        ("adventure works", "adventure-works.com"),
        ("wingtip", "wingtiptoys.com"),
    ],
)
def test_a_partial_name(
    seeded_db: DemoSummary, seeded_session: Session, query: str, domain: str
) -> None:
    found = find_customers(
        seeded_session, partner_id=partner(seeded_session, "northwind").id, query=query
    )
    assert found.customer is not None and found.customer.domain == domain


@pytest.mark.parametrize(
    "query",
    [
        "Woodgrove Bank",
        "woodgrovebank.com",
        "3b54e058-a443-593c-8eb6-dc4b030736f2",
        "Trey",
        "",
        "co",
    ],
)
def test_another_partners_customers_are_never_found(
    seeded_db: DemoSummary, seeded_session: Session, query: str
) -> None:
    found = find_customers(
        seeded_session, partner_id=partner(seeded_session, "northwind").id, query=query
    )
    assert found.matches == []


def test_by_id_only_within_the_partner(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    northwind = partner(seeded_session, "northwind")
    fabrikam = partner(seeded_session, "fabrikam")
    contoso = find_customers(
        seeded_session, partner_id=northwind.id, query="Contoso"
    ).customer
    assert contoso is not None
    assert (
        customer_of_partner(
            seeded_session, partner_id=northwind.id, customer_id=contoso.id
        )
        is contoso
    )
    assert (
        customer_of_partner(
            seeded_session, partner_id=fabrikam.id, customer_id=contoso.id
        )
        is None
    )
    assert (
        customer_of_partner(seeded_session, partner_id=northwind.id, customer_id=99999)
        is None
    )


def test_name_keys() -> None:
    assert name_key("Proseware, Inc.") == "proseware"
    assert name_key("The Phone Company") == "phone"
    assert name_key("Ltd") == "ltd"


@pytest.mark.parametrize(
    ("slug", "text", "names"),
    [
        ("litware", "Show Proseware's most recent invoice", ["Proseware, Inc."]),
        ("fabrikam", "woodgrove's latest invoice pls", ["Woodgrove Bank"]),
        ("litware", "and Coho's?", ["Coho Winery"]),
        ("litware", "Reduce Trey Research's Copilot subscription", ["Trey Research"]),
        ("northwind", "same for adventure works", ["Adventure Works Cycles"]),
        ("northwind", "and for wingtiptoys.com?", ["Wingtip Toys"]),
        (
            "northwind",
            "Contoso, then Alpine Ski House",
            ["Contoso Ltd", "Alpine Ski House"],
        ),
        # a first word counts only when written as a name
        ("fabrikam", "the fourth invoice", []),
        ("fabrikam", "Fourth's bill", ["Fourth Coffee"]),
        # never another partner's customer
        ("litware", "latest invoice for Contoso", []),
        ("northwind", "what is the weather in London", []),
    ],
)
def test_customers_mentioned_in_a_sentence(
    seeded_db: DemoSummary,
    seeded_session: Session,
    slug: str,
    text: str,
    names: list[str],
) -> None:
    found = customers_mentioned(
        seeded_session, partner_id=partner(seeded_session, slug).id, text=text
    )
    assert [c.name for c in found] == names
