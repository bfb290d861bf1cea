"""Finding a partner's customer by what staff type: a name, a domain or a tenant id.

Every search is scoped to one partner: another partner's customer is never found, so
"not yours" and "does not exist" get the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.models import Customer

GUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Legal-form words that people leave out ("Contoso" for "Contoso Ltd").
LEGAL_SUFFIXES = frozenset(
    {
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "llc",
        "plc",
        "gmbh",
        "corp",
        "corporation",
        "co",
        "company",
        "sa",
        "ag",
        "bv",
        "the",
    }
)
MAX_QUERY_LENGTH = 200
MIN_PARTIAL_LENGTH = 3  # "co" names too many customers to be a search


@dataclass(frozen=True)
class CustomerSearch:
    """The outcome of a search: one customer, several candidates, or none."""

    query: str
    matches: list[Customer] = field(default_factory=list)

    @property
    def customer(self) -> Optional[Customer]:
        return self.matches[0] if len(self.matches) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.matches) > 1


def name_key(name: str) -> str:
    """`'Contoso Ltd.'` -> `'contoso'`: lower case, no punctuation or legal form."""
    words = re.findall(r"[a-z0-9]+", name.lower().replace("'s ", " "))
    if words and words[-1] == "s" and len(words) > 1:  # "Contoso's" -> "contoso s"
        words = words[:-1]
    kept = [word for word in words if word not in LEGAL_SUFFIXES]
    return " ".join(kept or words)


def find_customers(session: Session, *, partner_id: int, query: str) -> CustomerSearch:
    """The partner's customers that `query` names: by tenant id, domain or name.

    A tenant id or domain must match exactly (case-insensitive). A name matches when
    it equals the customer's name without its legal form ("Contoso" for "Contoso
    Ltd"), or, failing that, when every word of the query starts a word of the name
    ("Alpine" for "Alpine Ski House").
    """
    text = query.strip()[:MAX_QUERY_LENGTH]
    if not text:
        return CustomerSearch(query=text)
    customers = list(
        session.scalars(
            select(Customer)
            .where(Customer.partner_id == partner_id)
            .order_by(Customer.name, Customer.id)
        )
    )
    lowered = text.lower()
    guid = GUID.fullmatch(lowered)
    if guid:
        return CustomerSearch(
            text, [c for c in customers if c.tenant_id.lower() == lowered]
        )
    if DOMAIN.fullmatch(lowered):
        by_domain = [c for c in customers if c.domain.lower() == lowered]
        if by_domain:
            return CustomerSearch(text, by_domain)
    key = name_key(text)
    if not key:
        return CustomerSearch(text)
    exact = [
        c for c in customers if name_key(c.name) == key or c.name.lower() == lowered
    ]
    if exact:
        return CustomerSearch(text, exact)
    # "contoso" for the domain contoso.com
    by_label = [c for c in customers if c.domain.lower().split(".")[0] == key]
    if by_label:
        return CustomerSearch(text, by_label)
    if len(key) < MIN_PARTIAL_LENGTH:
        return CustomerSearch(text)
    query_words = key.split()
    partial = [
        c
        for c in customers
        if all(
            any(word.startswith(q) for word in name_key(c.name).split())
            for q in query_words
        )
    ]
    return CustomerSearch(text, partial)


def customer_of_partner(
    session: Session, *, partner_id: int, customer_id: int
) -> Optional[Customer]:
    """The customer with id `customer_id`, only if it is `partner_id`'s."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.partner_id != partner_id:
        return None
    return customer


def guids_in(text: str) -> list[str]:
    """Every GUID in `text`, lower case, in order."""
    return [match.group().lower() for match in GUID.finditer(text or "")]


_POSSESSIVE = re.compile(r"['’]s\b", re.IGNORECASE)
_WORDS = re.compile(r"[A-Za-z0-9]+(?:['’]s)?")


def customers_mentioned(
    session: Session, *, partner_id: int, text: str
) -> list[Customer]:
    """The partner's customers a sentence mentions, in the order it mentions them.

    For what entity extraction misses or gets wrong ("Show Proseware's most recent
    invoice", "woodgrove's latest", "and Coho's?"): a customer is mentioned by its
    name without legal form (or its first two words or more), by its domain or the
    domain's label, or by the first word of its name when that word is written as a
    name (capitalised, or with a possessive) and names only this customer.
    """
    text = text[: MAX_QUERY_LENGTH * 5]
    customers = list(
        session.scalars(
            select(Customer)
            .where(Customer.partner_id == partner_id)
            .order_by(Customer.name, Customer.id)
        )
    )
    plain = (
        " "
        + " ".join(w.lower() for w in _WORDS.findall(_POSSESSIVE.sub("", text)))
        + " "
    )
    as_names = {
        _POSSESSIVE.sub("", w).lower()
        for w in _WORDS.findall(text)
        if w[:1].isupper() or _POSSESSIVE.search(w)
    }
    firsts: dict[str, list[Customer]] = {}
    for customer in customers:
        key = name_key(customer.name)
        if key:
            firsts.setdefault(key.split()[0], []).append(customer)
    found: list[tuple[int, Customer]] = []
    for customer in customers:
        key = name_key(customer.name)
        label = customer.domain.lower().split(".")[0]
        words = key.split()
        candidates = [f" {label} ", f" {customer.domain.lower()} "]
        # the whole name, or its first two words or more ("Adventure Works")
        candidates += [f" {' '.join(words[:n])} " for n in range(2, len(words) + 1)]
        if len(words) == 1:
            candidates.append(f" {key} ")
        positions = [plain.find(c) for c in candidates if len(c.strip()) >= 3]
        first = words[0] if words else ""
        if (
            len(first) >= 4
            and first in as_names
            and len(firsts.get(first, [])) == 1
            and f" {first} " in plain
        ):
            positions.append(plain.find(f" {first} "))
        hits = [p for p in positions if p >= 0]
        if hits:
            found.append((min(hits), customer))
    return [customer for _, customer in sorted(found, key=lambda pair: pair[0])]
