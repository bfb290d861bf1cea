"""Whole conversations against the running product, judged on facts.

A conversation file (YAML) holds scripted conversations of one class:

    class: context                     # the class the report counts it under
    conversations:
      - id: compare-with-last-month
        as: customer contoso.com       # or: staff U0NW0BILL1 (Slack id),
                                       #     teams U0NW0BILL1, anonymous
        turns:
          - user: what's my latest invoice?
            expect: ["{{ latest.number }}", "{{ latest.total | money }}"]
          - user: why is it higher than last month?
            expect: ["{{ previous.number }}"]
            never: ["no invoices"]

Per turn, every text is a Jinja template rendered against the facts of the
conversation's customer (read from the stack's database with the product's own
services, `facts()`), then looked for in the bot's replies, normalised (case,
spacing, thousands separators). A `user:` text holding `{{ ... }}` is rendered too,
so a user can type a number the data gives ("{{ latest.number }}") rather than one
written into the file:

- `expect`: each must appear; `expect_any`: at least one must;
- `never`: none may appear;
- `should`: each should appear (missing: the answer is weak, not wrong);
- `ticket`: a ticket is filed during this turn: {category, topic, mentions: [...]};
  `no_ticket: true`: none is.

A turn that misses an `expect`, `expect_any`, `never` or `ticket` is *wrong*; one that
misses only a `should` is *weak*; a conversation is as bad as its worst turn. A
template that cannot be rendered (e.g. a customer without a previous invoice) is an
error of the conversation file, reported as such.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo

import httpx
import jinja2
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from actions.subscriptions import eligibilities
from api.domain.models import (
    Customer,
    DocumentType,
    Partner,
    PartnerUser,
    SubscriptionStatus,
    Ticket,
)
from api.domain.services.billing import subscriptions_of, unpaid_invoices
from common.formatting import format_date, format_money, local_today
from common.identity import mint_customer_token, mint_staff_token

RIGHT, WEAK, WRONG = "right", "weak", "wrong"
VERDICT_ORDER = {RIGHT: 0, WEAK: 1, WRONG: 2}


class ConversationFileError(ValueError):
    """A conversation file is malformed or names a fact that does not exist."""


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Turn:
    user: str
    expect: tuple[str, ...] = ()
    expect_any: tuple[str, ...] = ()
    should: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    ticket: Optional[dict[str, Any]] = None
    no_ticket: bool = False


@dataclass(frozen=True)
class Script:
    id: str
    cls: str
    who: str  # "customer <domain>", "staff <slack id>", "teams <slack id>", "anonymous"
    turns: tuple[Turn, ...]
    source: str = ""


TURN_KEYS = {"user", "expect", "expect_any", "should", "never", "ticket", "no_ticket"}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return tuple(str(v) for v in value)
    raise ConversationFileError(f"{where}: expected a text or a list of texts")


def load_scripts(path: Path) -> list[Script]:
    """The conversations of one file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cls = data.get("class")
    if not isinstance(cls, str):
        raise ConversationFileError(f"{path}: `class:` is missing")
    scripts = []
    for entry in data.get("conversations") or []:
        sid = entry.get("id")
        where = f"{path.name}:{sid}"
        who = entry.get("as")
        if not isinstance(sid, str) or not isinstance(who, str):
            raise ConversationFileError(
                f"{path}: each conversation needs `id` and `as`"
            )
        turns = []
        for number, raw in enumerate(entry.get("turns") or [], 1):
            if not isinstance(raw, dict) or "user" not in raw:
                raise ConversationFileError(f"{where} turn {number}: needs `user:`")
            unknown = set(raw) - TURN_KEYS
            if unknown:
                raise ConversationFileError(
                    f"{where} turn {number}: unknown keys {sorted(unknown)}"
                )
            turns.append(
                Turn(
                    user=str(raw["user"]),
                    expect=_strings(raw.get("expect"), where),
                    expect_any=_strings(raw.get("expect_any"), where),
                    should=_strings(raw.get("should"), where),
                    never=_strings(raw.get("never"), where),
                    ticket=raw.get("ticket"),
                    no_ticket=bool(raw.get("no_ticket")),
                )
            )
        if not turns:
            raise ConversationFileError(f"{where}: no turns")
        scripts.append(Script(sid, cls, who, tuple(turns), source=path.name))
    ids = [s.id for s in scripts]
    if len(ids) != len(set(ids)):
        raise ConversationFileError(f"{path}: duplicate conversation ids")
    return scripts


def load_folder(folder: Path) -> list[Script]:
    scripts: list[Script] = []
    for path in sorted(folder.glob("*.yml")):
        scripts.extend(load_scripts(path))
    ids = [s.id for s in scripts]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ConversationFileError(f"{folder}: duplicate ids {sorted(duplicates)}")
    return scripts


# --------------------------------------------------------------------------- facts


def _money(value: Any) -> str:
    """`1234.5` -> `1,234.50` (the amount as the bot writes it, no currency)."""
    return format_money(Decimal(str(value)), "XXX").removesuffix(" XXX")


def _date(value: Any, lang: str = "en") -> str:
    """A date as the bot writes it in `lang`: `8 November 2026`, `2026年11月8日`."""
    return format_date(value, lang)


def _fullwidth(value: Any) -> str:
    """`G000024195` -> `Ｇ０００２４１９５`: letters and digits as full-width characters
    (how Japanese input methods often type them)."""
    return "".join(
        chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in str(value)
    )


def _month(value: Any) -> str:
    return f"{value:%B %Y}"


def _add_days(value: Any, days: int) -> Any:
    """`order_date | add_days(7)`: the day a 7-day (168-hour) window closes."""
    return value + timedelta(days=days)


ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
ENV.filters.update(
    money=_money, date=_date, month=_month, add_days=_add_days, fullwidth=_fullwidth
)


@dataclass
class Facts:
    """What a conversation's expectations may name, read from the database."""

    values: dict[str, Any]

    def render(self, template: str, *, strip: bool = True) -> str:
        try:
            text = ENV.from_string(template).render(**self.values)
            return text.strip() if strip else text
        except (
            jinja2.TemplateError,
            AttributeError,
            IndexError,
            KeyError,
            TypeError,
        ) as exc:
            raise ConversationFileError(f"fact {template!r}: {exc}") from exc


def facts(session: Session, who: str, now: datetime) -> Facts:
    """The customer's (or the staff member's partner's) facts for `who`."""
    kind, _, ident = who.partition(" ")
    values: dict[str, Any] = {"now": now}
    customer: Optional[Customer] = None
    partner: Optional[Partner] = None
    if kind == "customer":
        customer = session.scalars(
            select(Customer).where(Customer.domain == ident)
        ).one()
        partner = customer.partner
    elif kind in ("staff", "teams"):
        user = session.scalars(
            select(PartnerUser).where(PartnerUser.slack_user_id == ident)
        ).one()
        partner = user.partner
        values["staff"] = user
    if partner is not None:
        today = local_today(now, partner.timezone)
        values.update(partner=partner, today=today, customers=partner.customers)
        # The abbreviation of the partner's time zone today (PST, GMT, CST...): a
        # time the bot states (a refund window's end) should carry it.
        values["zone"] = now.astimezone(ZoneInfo(partner.timezone)).tzname()
        values["customer_named"] = {
            c.domain: customer_facts(session, c, today, now) for c in partner.customers
        }
    if customer is not None:
        values.update(customer_facts(session, customer, values["today"], now))
    return Facts(values)


def customer_facts(
    session: Session, customer: Customer, today: Any, now: datetime
) -> dict[str, Any]:
    invoices = sorted(
        (i for i in customer.invoices if i.document_type is DocumentType.INVOICE),
        key=lambda i: (i.invoice_date, i.number),
    )
    subscriptions = subscriptions_of(session, customer_id=customer.id)
    windows = eligibilities(session, customer, now)
    return {
        "customer": customer,
        "invoices": invoices,
        "latest": invoices[-1] if invoices else None,
        "previous": invoices[-2] if len(invoices) > 1 else None,
        "credit_notes": sorted(
            (
                i
                for i in customer.invoices
                if i.document_type is DocumentType.CREDIT_NOTE
            ),
            key=lambda i: i.invoice_date,
        ),
        "subscriptions": subscriptions,
        "subscription": {s.product_name: s for s in subscriptions},
        "suspended": [
            s for s in subscriptions if s.status is SubscriptionStatus.SUSPENDED
        ],
        "unpaid": unpaid_invoices(session, customer_id=customer.id),
        "overdue": [
            i
            for i in unpaid_invoices(session, customer_id=customer.id)
            if i.payment_status(today) == "overdue"
        ],
        "refundable": [(s, e) for s, e in windows if e.eligible],
        "not_refundable": [(s, e) for s, e in windows if not e.eligible],
        # The day each refund window closes: the window runs whole days (7 x 24 h,
        # SaaS 72 h) from the time of purchase or renewal, so it closes on the day
        # `window_days` after it, at the hour of the purchase.
        "window_closes": {
            s.product_name: e.window_start + timedelta(days=e.window_days)
            for s, e in windows
            if e.window_days > 0
        },
    }


# --------------------------------------------------------------------------- judging


def normalise(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\u202f", " ").lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class TurnResult:
    user: str
    replies: list[str]
    verdict: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Result:
    script: Script
    turns: list[TurnResult]
    error: str = ""

    @property
    def verdict(self) -> str:
        if self.error:
            return WRONG
        return max(
            (t.verdict for t in self.turns),
            key=VERDICT_ORDER.__getitem__,
            default=RIGHT,
        )

    def transcript(self) -> str:
        lines = [
            f"{self.script.id} ({self.script.cls}, as {self.script.who}): {self.verdict}"
        ]
        if self.error:
            lines.append(f"  error: {self.error}")
        for turn in self.turns:
            lines.append(f"  user: {turn.user}")
            for reply in turn.replies:
                lines.append("  bot:  " + reply.replace("\n", "\n        "))
            for problem in turn.problems:
                lines.append(f"  !! {problem}")
        return "\n".join(lines)


def judge(
    turn: Turn, replies: list[str], facts_: Facts, tickets: list[Ticket]
) -> TurnResult:
    text = normalise("\n".join(replies))
    wrong: list[str] = []
    weak: list[str] = []
    for template in turn.expect:
        fact = facts_.render(template)
        if normalise(fact) not in text:
            wrong.append(f"missing {fact!r}")
    if turn.expect_any:
        rendered = [facts_.render(t) for t in turn.expect_any]
        if not any(normalise(f) in text for f in rendered):
            wrong.append(f"none of {rendered!r}")
    for template in turn.never:
        fact = facts_.render(template)
        if fact and normalise(fact) in text:
            wrong.append(f"should not say {fact!r}")
    for template in turn.should:
        fact = facts_.render(template)
        if normalise(fact) not in text:
            weak.append(f"weak: missing {fact!r}")
    if turn.ticket is not None:
        wrong.extend(_ticket_problems(turn.ticket, tickets, facts_))
    if turn.no_ticket and tickets:
        wrong.append(f"filed {len(tickets)} ticket(s) it should not have")
    verdict = WRONG if wrong else WEAK if weak else RIGHT
    return TurnResult(turn.user, replies, verdict, wrong + weak)


def _ticket_problems(
    want: dict[str, Any], tickets: list[Ticket], facts_: Facts
) -> list[str]:
    if not tickets:
        return ["no ticket was filed"]
    ticket = tickets[-1]
    problems = []
    for key in ("category", "topic", "severity"):
        if key in want:
            actual = getattr(ticket, key)
            actual = getattr(actual, "value", actual)
            if str(actual) != str(want[key]):
                problems.append(f"ticket {key} is {actual!r}, not {want[key]!r}")
    # What the ticket carries for the desk: its text, and from its packet the
    # identifiers and tenant (not the transcript, which repeats what the user typed).
    packet = ticket.packet or {}
    carried = json.dumps(
        {
            "identifiers": packet.get("identifiers"),
            "tenant_id": packet.get("tenant_id"),
            "product": ticket.product,
        },
        default=str,
    )
    blob = normalise(f"{ticket.summary}\n{ticket.description}\n{carried}")
    for template in _strings(want.get("mentions"), "ticket.mentions"):
        fact = facts_.render(template)
        if normalise(fact) not in blob:
            problems.append(f"ticket does not mention {fact!r}")
    return problems


# --------------------------------------------------------------------------- running


@dataclass
class Runner:
    """Holds conversations with a running stack over Rasa's REST channel."""

    rasa_url: str
    chat_token_secret: str
    engine: Engine
    timeout: float = 60.0
    _client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=self.timeout)

    def close(self) -> None:
        self._client.close()

    def token(self, session: Session, who: str) -> Optional[str]:
        kind, _, ident = who.partition(" ")
        if kind == "customer":
            customer = session.scalars(
                select(Customer).where(Customer.domain == ident)
            ).one()
            return mint_customer_token(
                self.chat_token_secret,
                tenant_id=customer.tenant_id,
                user_id=f"conversation.test@{customer.domain}",
            )
        if kind in ("staff", "teams"):
            subject = ident
            if kind == "teams":
                subject = session.scalars(
                    select(PartnerUser.aad_object_id).where(
                        PartnerUser.slack_user_id == ident
                    )
                ).one()
            return mint_staff_token(
                self.chat_token_secret,
                platform="slack" if kind == "staff" else "teams",
                platform_user_id=str(subject),
            )
        if kind == "anonymous":
            return None
        raise ConversationFileError(f"unknown `as: {who}`")

    def say(self, sender: str, text: str, token: Optional[str]) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"sender": sender, "message": text}
        if token:
            body["metadata"] = {"chat_token": token}
        reply = self._client.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body)
        reply.raise_for_status()
        return list(reply.json())

    def run(self, script: Script) -> Result:
        sender = f"conv-{script.id}-{uuid.uuid4().hex[:8]}"
        now = datetime.now(timezone.utc)
        results: list[TurnResult] = []
        try:
            with Session(self.engine) as session:
                token = self.token(session, script.who)
                known = facts(session, script.who, now)
                for turn in script.turns:
                    said = said_by_user(turn, known)
                    before = self._ticket_ids(session, sender)
                    messages = self.say(sender, said, token)
                    replies = [_shown(m) for m in messages]
                    session.expire_all()
                    new = [
                        t for t in self._tickets(session, sender) if t.id not in before
                    ]
                    result = judge(turn, replies, known, new)
                    result.user = said
                    results.append(result)
        except ConversationFileError as exc:
            return Result(script, results, error=str(exc))
        except httpx.HTTPError as exc:
            return Result(script, results, error=f"the stack did not answer: {exc}")
        return Result(script, results)

    @staticmethod
    def _tickets(session: Session, sender: str) -> list[Ticket]:
        return list(
            session.scalars(
                select(Ticket)
                .where(Ticket.conversation_id == sender)
                .order_by(Ticket.id)
            )
        )

    def _ticket_ids(self, session: Session, sender: str) -> set[int]:
        return {t.id for t in self._tickets(session, sender)}


def said_by_user(turn: Turn, facts_: Facts) -> str:
    """What the user sends: the `user:` text, rendered when it names a fact (other
    texts are sent exactly as written, spaces and braces included)."""
    if "{{" in turn.user or "{%" in turn.user:
        return facts_.render(turn.user, strip=False)
    return turn.user


def _shown(message: dict[str, Any]) -> str:
    """What a chatter sees of one bot message: its text and its buttons' titles."""
    parts = [message.get("text") or ""]
    parts += [f"[{b.get('title', '')}]" for b in message.get("buttons") or []]
    return "\n".join(p for p in parts if p)


def run_all(runner: Runner, scripts: list[Script]) -> Iterator[Result]:
    for script in scripts:
        yield runner.run(script)


def check_facts(session: Session, script: Script, now: datetime) -> list[str]:
    """Render every template of `script` without talking to the bot: the problems of
    the file (unknown facts, a customer with no such invoice, ...)."""
    problems: list[str] = []
    try:
        known = facts(session, script.who, now)
    except Exception as exc:
        return [f"{script.id}: `as: {script.who}`: {exc}"]
    for number, turn in enumerate(script.turns, 1):
        try:
            said_by_user(turn, known)
        except ConversationFileError as exc:
            problems.append(f"{script.id} turn {number}: {exc}")
        templates = [*turn.expect, *turn.expect_any, *turn.should, *turn.never]
        if turn.ticket:
            templates += list(_strings(turn.ticket.get("mentions"), "mentions"))
        for template in templates:
            try:
                if not known.render(template):
                    problems.append(f"{script.id} turn {number}: {template!r} is empty")
            except ConversationFileError as exc:
                problems.append(f"{script.id} turn {number}: {exc}")
    return problems
