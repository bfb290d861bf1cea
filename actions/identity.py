"""Who is chatting, as far as a custom action may trust it, and whose account an
answer is about.

A chatter is identified only by the signed chat token that the channel puts in the
metadata of the message being handled (`{"chat_token": "<jwt>"}`). Never from an
earlier message: not from the `session_started_metadata` slot (Rasa's copy of the
session's first message's metadata), nor from anything else a previous message left
in the conversation, so a message without a token, or with another tenant's, posted
under someone's sender id is answered as nobody, or as that other tenant. Every
channel sends the token with every message (the widget from the session it bound to
the token). Entities and text never identify anyone.

`resolve_chatter(session, tracker)` is the one resolver every action uses: it maps
the token to our data (a customer's tenant, or a partner's staff member by Slack
user id or Entra object id) and gives the chatter's role for the permission table.
`target_customer` then picks the customer an answer is about: a customer's own, or,
for partner staff, one of their own partner's customers named in the message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.domain.models import Customer, Partner, PartnerUser
from api.domain.services.billing import customer_by_tenant
from api.domain.services.customers import (
    customer_of_partner,
    customers_mentioned,
    find_customers,
    guids_in,
)
from api.domain.services.permissions import CUSTOMER_ROLE, permission_table
from api.settings import get_settings
from common.identity import ChatIdentity, InvalidChatToken, verify_chat_token

if TYPE_CHECKING:
    from rasa_sdk import Tracker

logger = logging.getLogger(__name__)

CHAT_TOKEN_KEY = "chat_token"  # noqa: S105 (a metadata key, not a secret)


def _candidate_tokens(tracker: Tracker) -> Iterator[Any]:
    """The chat token of the message being handled, if it has one."""
    metadata = (tracker.latest_message or {}).get("metadata")
    if isinstance(metadata, dict) and metadata.get(CHAT_TOKEN_KEY):
        yield metadata[CHAT_TOKEN_KEY]


def chat_identity(tracker: Tracker) -> Optional[ChatIdentity]:
    """The verified chatter of this conversation, or None if nobody is signed in.

    A token that is missing, expired, forged or for another audience counts as no
    identity; the reason is logged, never shown to the chatter.
    """
    secret = get_settings().chat_token_secret
    for token in _candidate_tokens(tracker):
        try:
            return verify_chat_token(secret, token)
        except InvalidChatToken as exc:
            logger.info(
                "Chat token rejected in conversation %s: %s", tracker.sender_id, exc
            )
    return None


# --------------------------------------------------------------------------- chatter


@dataclass(frozen=True)
class Chatter:
    """A verified chatter, resolved against our data.

    A customer: `customer` is their own organisation, `partner_user` is None.
    Partner staff: `partner_user` is the active member of staff, `customer` is None
    (the customer they ask about is resolved per message, see `target_customer`).
    ORM rows: use them inside the session that resolved them.
    """

    identity: ChatIdentity
    role: str  # "customer" or a Partner Center role (permissions.yml)
    partner: Partner
    customer: Optional[Customer] = None
    partner_user: Optional[PartnerUser] = None

    @property
    def is_staff(self) -> bool:
        return self.partner_user is not None

    @property
    def role_label(self) -> str:
        return permission_table().label(self.role)

    def can(self, capability: str) -> bool:
        return permission_table().can(self.role, capability)


@dataclass(frozen=True)
class Identification:
    """Who is chatting, or why nobody is: `problem` names the response to send."""

    chatter: Optional[Chatter] = None
    problem: Optional[str] = None


def identify(session: Session, tracker: Tracker) -> Identification:
    """The chatter behind the signed token, looked up in our data.

    No valid token: `utter_sign_in_needed`. A customer token for a tenant we do not
    bill: `utter_account_not_found`. A staff token for a platform user who is not a
    partner's staff member, or has left: `utter_staff_unknown` /
    `utter_staff_inactive`. In each case the chatter gets general answers only.
    """
    identity = chat_identity(tracker)
    if identity is None:
        return Identification(problem="utter_sign_in_needed")
    if identity.kind == "customer":
        customer = customer_by_tenant(session, tenant_id=identity.tenant_id or "")
        if customer is None:
            logger.warning("No customer for the tenant of %s", identity.requester)
            return Identification(problem="utter_account_not_found")
        return Identification(
            Chatter(
                identity=identity,
                role=CUSTOMER_ROLE,
                partner=customer.partner,
                customer=customer,
            )
        )
    if identity.platform == "slack":
        match = PartnerUser.slack_user_id == identity.subject
    else:  # Teams: an Entra object id, a GUID in any case
        match = func.lower(PartnerUser.aad_object_id) == identity.subject.lower()
    user = session.scalars(select(PartnerUser).where(match)).first()
    if user is None:
        logger.info("Unknown staff member %s", identity.requester)
        return Identification(problem="utter_staff_unknown")
    if not user.active:
        logger.info("Inactive staff member %s", identity.requester)
        return Identification(problem="utter_staff_inactive")
    return Identification(
        Chatter(
            identity=identity,
            role=user.role.value,
            partner=user.partner,
            partner_user=user,
        )
    )


def resolve_chatter(session: Session, tracker: Tracker) -> Optional[Chatter]:
    """The chatter as (identity, role, partner, customer, partner user), or None.

    Identity comes only from the signed chat token on the message being handled,
    never from an earlier message or from what the user typed. Inactive or unknown staff and
    tenants we do not bill count as unidentified (see `identify` for the reason).
    """
    return identify(session, tracker).chatter


# --------------------------------------------------------------------------- target


# The customer partner staff are asking about, remembered for follow-ups. Set by
# actions only, after the customer was found among the staff member's own partner's
# customers; re-checked against the partner every time it is read.
ACTING_FOR_SLOT = "acting_for_customer_id"
CUSTOMER_ENTITY = "customer"
TENANT_ENTITY = "tenant_id"
MAX_ECHOED_NAME = 60


@dataclass(frozen=True)
class Target:
    """Whose account an answer is about, or the response that explains why none."""

    customer: Optional[Customer] = None
    problem: Optional[str] = None
    values: dict[str, Any] = field(default_factory=dict)
    named: bool = False  # named in this message (rather than remembered)


def _named_customers(tracker: Tracker) -> tuple[list[str], list[str]]:
    """What the latest message names a customer by.

    Returns (named, maybe): `named` are tenant ids, names and domains, which must be
    found; `maybe` are other GUIDs in the text (spaCy reads a bare GUID as a
    subscription id), used only if one of them is a customer's tenant id.
    """
    named: list[str] = []
    for entity in (TENANT_ENTITY, CUSTOMER_ENTITY):
        for value in tracker.get_latest_entity_values(entity):
            if isinstance(value, str) and value.strip() and value not in named:
                named.append(value.strip())
    maybe: list[str] = []
    text = (tracker.latest_message or {}).get("text")
    if isinstance(text, str):
        lowered = [n.lower() for n in named]
        for guid in guids_in(text):
            if guid not in lowered and guid not in maybe:
                maybe.append(guid)
        for match in DOMAIN_IN_TEXT.finditer(text):
            if match.group().lower() not in lowered:
                named.append(match.group())
    return named, maybe


DOMAIN_IN_TEXT = re.compile(
    r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|io|co|uk|"
    r"de|fr|nl|biz|info|us|eu|example)(?![\w.-])",
    re.IGNORECASE,
)


def target_customer(session: Session, chatter: Chatter, tracker: Tracker) -> Target:
    """The customer an answer is about.

    A customer: always their own organisation, whatever they type. Partner staff:
    the customer named in this message (name, domain or tenant id), else the one
    remembered from earlier in the conversation; searched among their own
    partner's customers only. Another partner's customer is "not found", exactly
    like one that does not exist.
    """
    if not chatter.is_staff:
        return Target(customer=chatter.customer)
    named, maybe = _named_customers(tracker)
    for query in [*named, *maybe]:
        search = find_customers(session, partner_id=chatter.partner.id, query=query)
        if search.customer is not None:
            return Target(customer=search.customer, named=True)
        if search.ambiguous:
            return Target(
                problem="utter_customer_ambiguous",
                values={
                    "customer_name": query[:MAX_ECHOED_NAME],
                    "candidates": ", ".join(c.name for c in search.matches[:5]),
                },
            )
    text = str((tracker.latest_message or {}).get("text") or "")
    mentioned = customers_mentioned(session, partner_id=chatter.partner.id, text=text)
    if len(mentioned) == 1:
        return Target(customer=mentioned[0], named=True)
    if named:
        return Target(
            problem="utter_customer_not_found",
            values={"customer_name": named[0][:MAX_ECHOED_NAME]},
        )
    remembered = tracker.get_slot(ACTING_FOR_SLOT)
    if remembered is not None and str(remembered).isdigit():
        customer = customer_of_partner(
            session, partner_id=chatter.partner.id, customer_id=int(remembered)
        )
        if customer is not None:
            return Target(customer=customer)
    return Target(problem="utter_name_the_customer")
