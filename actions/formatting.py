"""How the bot writes money, dates and invoice states: one place for every action.

Amounts keep their ISO currency code (partners bill in several currencies) and dates
are written with the month's name, so `03/04/2025` is never ambiguous.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from api.domain.models import Invoice

CENT = Decimal("0.01")


def format_money(amount: Decimal, currency: str) -> str:
    """`1234.5`, `EUR` -> `1,234.50 EUR`; negative amounts keep their minus sign."""
    value = Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value):,.2f} {currency.upper()}"


def format_date(day: date) -> str:
    """`2025-03-04` -> `4 March 2025`."""
    return f"{day.day} {day:%B %Y}"


def format_period(start: date, end: date) -> str:
    """A billing period: `1 March 2025 to 31 March 2025`."""
    return f"{format_date(start)} to {format_date(end)}"


def plural(count: int, word: str) -> str:
    """`1 day`, `3 days`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def local_today(now: datetime, tz_name: str) -> date:
    """The date it is at `now` in the zone `tz_name` (UTC if the zone is unknown)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def invoice_status(invoice: Invoice, today: date) -> str:
    """The invoice's payment state in words, as of `today`.

    `paid`, `unpaid, due in 5 days`, `partially paid: 100.00 EUR paid, 50.00 EUR
    outstanding`, `overdue by 12 days (150.00 EUR outstanding)` or, for a credit
    note, `credit note`.
    """
    status = invoice.payment_status(today)
    currency = invoice.currency
    if status == "credit":
        return "credit note"
    if status == "paid":
        return "paid"
    outstanding = format_money(invoice.balance, currency)
    if status == "overdue":
        days = invoice.days_overdue(today)
        text = f"overdue by {plural(days, 'day')}"
        if invoice.paid_amount > 0:
            paid = format_money(invoice.paid_amount, currency)
            return f"{text} ({paid} paid, {outstanding} outstanding)"
        return f"{text} ({outstanding} outstanding)"
    if status == "partially_paid":
        paid = format_money(invoice.paid_amount, currency)
        return f"partially paid: {paid} paid, {outstanding} outstanding"
    days_left = (invoice.due_date - today).days
    if days_left == 0:
        return "unpaid, due today"
    return f"unpaid, due in {plural(days_left, 'day')}"


def format_change(amount: Decimal, currency: str) -> str:
    """A signed change: `+140.23 USD`, `-81.45 GBP`, `0.00 USD`."""
    text = format_money(amount, currency)
    return f"+{text}" if Decimal(amount) > 0 else text


def format_price(amount: Decimal) -> str:
    """A unit price without its currency: `37.80`, `1,069.00`."""
    return f"{Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def join_words(words: list[str], last: str = "and") -> str:
    """`['a']` -> `a`; `['a', 'b', 'c']` -> `a, b and c`."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def bullet_list(lines: list[str]) -> str:
    """Lines as a Markdown-style list, one `- ` item per line."""
    return "\n".join(f"- {line}" for line in lines)
