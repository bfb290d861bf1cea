"""Why an invoice differs from the one before: a line-by-line comparison.

`compare_invoices(current, previous)` is pure: it reads the two invoices' lines and
returns structured change items (seats added or removed, price changes, new or
no-longer-billed products, prorated seat changes and cancellations, one-time
charges, usage, credits, duplicates and tax). The amounts of the items add up
exactly to the difference of the two totals; the bot formats them
(actions/charges.py).

How an item's amount is computed, per subscription (or, for lines without one, per
product and SKU):

- recurring charges (new, renew, cycle charge): the seat effect is
  `(seats now - seats before) x price before`, the price effect is the rest of the
  difference; a subscription billed on one invoice and not on the other is a new
  product or a product not billed this time;
- prorated charges (add/remove quantity, cancel), one-time charges and credits are
  one-offs: each line on the current invoice adds its amount, each line on the
  previous invoice takes its amount away (it does not recur); the days charged and
  the days in the cycle come from the line's `prorated_days` and `cycle_days`;
- usage: the change of the usage total, with the meters that moved;
- tax: the change of the invoice's tax total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal, Optional

from api.domain.models import ChargeType, DocumentType, Invoice, InvoiceLine

ZERO = Decimal("0.00")
RECURRING = frozenset({ChargeType.NEW, ChargeType.RENEW, ChargeType.CYCLE_CHARGE})
PRORATED = frozenset(
    {ChargeType.ADD_QUANTITY, ChargeType.REMOVE_QUANTITY, ChargeType.CANCEL}
)

ChangeKind = Literal[
    "new_product",
    "product_not_billed",
    "seats_added",
    "seats_removed",
    "price_change",
    "duplicate_charge",
    "duplicate_not_repeated",
    "prorated_seats_added",
    "prorated_seats_removed",
    "prorated_cancellation",
    "prorated_not_repeated",
    "one_time",
    "one_time_not_repeated",
    "usage",
    "credit",
    "credit_not_repeated",
    "tax",
    "other",
]


@dataclass(frozen=True)
class MeterChange:
    """One usage meter's charge on the two invoices."""

    meter: str
    before: Decimal
    after: Decimal
    quantity_before: int
    quantity_after: int

    @property
    def amount(self) -> Decimal:
        return self.after - self.before


@dataclass(frozen=True)
class ChangeItem:
    """One reason the total changed, and by how much (before tax, except `tax`)."""

    kind: ChangeKind
    product: str
    amount: Decimal
    subscription_id: Optional[str] = None
    charge_type: Optional[str] = None
    seats_before: Optional[int] = None
    seats_after: Optional[int] = None
    price_before: Optional[Decimal] = None
    price_after: Optional[Decimal] = None
    start: Optional[date] = None
    end: Optional[date] = None
    days: Optional[int] = None  # prorated days charged or refunded
    cycle_days: Optional[int] = None  # days in the billing cycle
    before: Optional[Decimal] = None  # usage and tax: the old amount
    after: Optional[Decimal] = None  # usage and tax: the new amount
    meters: tuple[MeterChange, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CreditNoteInfo:
    number: str
    total: Decimal
    invoice_date: date


@dataclass(frozen=True)
class ChargeComparison:
    """`current` compared with `previous` (None for a customer's first invoice)."""

    invoice_number: str
    previous_number: Optional[str]
    currency: str
    current_total: Decimal
    previous_total: Decimal
    items: list[ChangeItem] = field(default_factory=list)
    credit_notes: list[CreditNoteInfo] = field(default_factory=list)

    @property
    def difference(self) -> Decimal:
        return self.current_total - self.previous_total

    @property
    def items_total(self) -> Decimal:
        return sum((item.amount for item in self.items), ZERO)

    @property
    def balanced(self) -> bool:
        return self.items_total == self.difference


class ComparisonError(ValueError):
    """The two documents cannot be compared (different customers, series, types)."""


# --------------------------------------------------------------------------- grouping


def _group_key(line: InvoiceLine) -> str:
    return line.subscription_id or f"{line.product_name}|{line.sku}"


def _proration(line: InvoiceLine) -> tuple[Optional[int], Optional[int]]:
    """(days charged, days in the cycle) of a prorated line: its proration columns,
    or, when it has none, the days its dates span and an unknown cycle."""
    if line.prorated_days is not None:
        return line.prorated_days, line.cycle_days
    return (line.charge_end - line.charge_start).days + 1, None


def _product(lines: Sequence[InvoiceLine]) -> str:
    return lines[0].product_name


def _usage_product(lines: Sequence[InvoiceLine]) -> str:
    """`Azure plan - Virtual Machines ...` -> `Azure plan`."""
    return lines[0].product_name.split(" - ", 1)[0]


# --------------------------------------------------------------------------- compare


def compare_invoices(
    current: Invoice,
    previous: Optional[Invoice],
    *,
    credit_notes: Sequence[Invoice] = (),
) -> ChargeComparison:
    """Explain how `current` differs from `previous`, line by line.

    Args:
        current: The invoice to explain.
        previous: The invoice before it (same customer, same series), or None.
        credit_notes: Credit notes that amend `current`; listed, not summed (they
            are separate documents with their own totals).

    Raises:
        ComparisonError: The invoices belong to different customers or series, or
            one of them is a credit note (see `explain_credit_note`).
    """
    if current.document_type is not DocumentType.INVOICE or (
        previous is not None and previous.document_type is not DocumentType.INVOICE
    ):
        raise ComparisonError("only invoices are compared; credit notes are listed")
    if previous is not None:
        if previous.customer_id != current.customer_id:
            raise ComparisonError("the invoices belong to different customers")
        if previous.series != current.series:
            raise ComparisonError("the invoices are of different series")
    before_lines: list[InvoiceLine] = list(previous.lines) if previous else []
    after_lines: list[InvoiceLine] = list(current.lines)

    groups: dict[str, tuple[list[InvoiceLine], list[InvoiceLine]]] = defaultdict(
        lambda: ([], [])
    )
    order: list[str] = []
    for index, lines in enumerate((before_lines, after_lines)):
        for line in lines:
            key = _group_key(line)
            if key not in groups:
                order.append(key)
            groups[key][index].append(line)

    items: list[ChangeItem] = []
    for key in order:
        before, after = groups[key]
        items.extend(_recurring(before, after))
        items.extend(_one_offs(before, after))
        items.extend(_usage(before, after))

    previous_tax = previous.tax_total if previous else ZERO
    tax_change = current.tax_total - previous_tax
    if tax_change:
        items.append(
            ChangeItem(
                kind="tax",
                product="Tax",
                amount=tax_change,
                before=previous_tax,
                after=current.tax_total,
            )
        )
    comparison = ChargeComparison(
        invoice_number=current.number,
        previous_number=previous.number if previous else None,
        currency=current.currency,
        current_total=current.total,
        previous_total=previous.total if previous else ZERO,
        items=items,
        credit_notes=[
            CreditNoteInfo(note.number, note.total, note.invoice_date)
            for note in credit_notes
        ],
    )
    residual = comparison.difference - comparison.items_total
    if residual:
        # Totals that are not the sums of their lines: say so rather than hide it.
        items.append(ChangeItem(kind="other", product="Other changes", amount=residual))
    return comparison


def explain_credit_note(note: Invoice) -> ChargeComparison:
    """A credit note's own lines, as items that add up to its (negative) total."""
    if note.document_type is not DocumentType.CREDIT_NOTE:
        raise ComparisonError("not a credit note")
    items = [
        ChangeItem(
            kind="credit",
            product=line.product_name,
            amount=line.subtotal,
            charge_type=line.charge_type.value,
            seats_after=line.quantity,
            price_after=line.unit_price,
            start=line.charge_start,
            end=line.charge_end,
            description=line.description,
        )
        for line in note.lines
    ]
    if note.tax_total:
        items.append(ChangeItem(kind="tax", product="Tax", amount=note.tax_total))
    comparison = ChargeComparison(
        invoice_number=note.number,
        previous_number=None,
        currency=note.currency,
        current_total=note.total,
        previous_total=ZERO,
        items=items,
    )
    residual = comparison.difference - comparison.items_total
    if residual:
        items.append(ChangeItem(kind="other", product="Other changes", amount=residual))
    return comparison


def _recurring(
    before_all: list[InvoiceLine], after_all: list[InvoiceLine]
) -> list[ChangeItem]:
    before = [line for line in before_all if line.charge_type in RECURRING]
    after = [line for line in after_all if line.charge_type in RECURRING]
    items: list[ChangeItem] = []
    if not before and not after:
        return items
    if before and after:
        old, new = before[0], after[0]
        at_old_price = new.quantity * old.unit_price
        seat_effect = at_old_price - old.subtotal
        price_effect = new.subtotal - at_old_price

        def change(
            kind: ChangeKind, amount: Decimal, price_after: Decimal
        ) -> ChangeItem:
            return ChangeItem(
                kind=kind,
                product=new.product_name,
                subscription_id=new.subscription_id,
                amount=amount,
                charge_type=new.charge_type.value,
                seats_before=old.quantity,
                seats_after=new.quantity,
                price_before=old.unit_price,
                price_after=price_after,
                start=new.charge_start,
                end=new.charge_end,
            )

        if seat_effect:
            kind: ChangeKind = "seats_added" if seat_effect > 0 else "seats_removed"
            # seats at the old price; a price change is the next item
            items.append(change(kind, seat_effect, old.unit_price))
        if price_effect:
            items.append(change("price_change", price_effect, new.unit_price))
    elif after:
        new = after[0]
        items.append(
            ChangeItem(
                kind="new_product",
                product=new.product_name,
                subscription_id=new.subscription_id,
                amount=new.subtotal,
                charge_type=new.charge_type.value,
                seats_after=new.quantity,
                price_after=new.unit_price,
                start=new.charge_start,
                end=new.charge_end,
            )
        )
    else:
        old = before[0]
        items.append(
            ChangeItem(
                kind="product_not_billed",
                product=old.product_name,
                subscription_id=old.subscription_id,
                amount=-old.subtotal,
                charge_type=old.charge_type.value,
                seats_before=old.quantity,
                price_before=old.unit_price,
                start=old.charge_start,
                end=old.charge_end,
            )
        )
    for extra in after[1:]:
        items.append(
            ChangeItem(
                kind="duplicate_charge",
                product=extra.product_name,
                subscription_id=extra.subscription_id,
                amount=extra.subtotal,
                charge_type=extra.charge_type.value,
                seats_after=extra.quantity,
                price_after=extra.unit_price,
                start=extra.charge_start,
                end=extra.charge_end,
            )
        )
    for extra in before[1:]:
        items.append(
            ChangeItem(
                kind="duplicate_not_repeated",
                product=extra.product_name,
                subscription_id=extra.subscription_id,
                amount=-extra.subtotal,
                charge_type=extra.charge_type.value,
                seats_before=extra.quantity,
                price_before=extra.unit_price,
                start=extra.charge_start,
                end=extra.charge_end,
            )
        )
    return items


ONE_OFF_KINDS: dict[ChargeType, tuple[ChangeKind, ChangeKind]] = {
    ChargeType.ADD_QUANTITY: ("prorated_seats_added", "prorated_not_repeated"),
    ChargeType.REMOVE_QUANTITY: ("prorated_seats_removed", "prorated_not_repeated"),
    ChargeType.CANCEL: ("prorated_cancellation", "prorated_not_repeated"),
    ChargeType.ONE_TIME: ("one_time", "one_time_not_repeated"),
    ChargeType.CREDIT: ("credit", "credit_not_repeated"),
}


def _one_offs(
    before_all: list[InvoiceLine], after_all: list[InvoiceLine]
) -> list[ChangeItem]:
    items: list[ChangeItem] = []
    for lines, sign in ((after_all, 1), (before_all, -1)):
        for line in lines:
            kinds = ONE_OFF_KINDS.get(line.charge_type)
            if kinds is None:
                continue
            days, cycle_days = (
                _proration(line) if line.charge_type in PRORATED else (None, None)
            )
            items.append(
                ChangeItem(
                    kind=kinds[0] if sign > 0 else kinds[1],
                    product=line.product_name,
                    subscription_id=line.subscription_id,
                    amount=line.subtotal if sign > 0 else -line.subtotal,
                    charge_type=line.charge_type.value,
                    seats_after=line.quantity,
                    price_after=line.unit_price,
                    start=line.charge_start,
                    end=line.charge_end,
                    days=days,
                    cycle_days=cycle_days,
                    description=line.description,
                )
            )
    return items


def _usage(
    before_all: list[InvoiceLine], after_all: list[InvoiceLine]
) -> list[ChangeItem]:
    before = [line for line in before_all if line.charge_type is ChargeType.USAGE]
    after = [line for line in after_all if line.charge_type is ChargeType.USAGE]
    if not before and not after:
        return []
    old_total = sum((line.subtotal for line in before), ZERO)
    new_total = sum((line.subtotal for line in after), ZERO)
    if old_total == new_total:
        return []
    meters: dict[str, list[Decimal | int]] = {}
    for lines, offset in ((before, 0), (after, 1)):
        for line in lines:
            name = line.product_name.split(" - ", 1)[-1]
            entry = meters.setdefault(name, [ZERO, ZERO, 0, 0])
            entry[offset] = Decimal(entry[offset]) + line.subtotal
            entry[2 + offset] = int(entry[2 + offset]) + line.quantity
    changes = sorted(
        (
            MeterChange(
                meter=name,
                before=Decimal(values[0]),
                after=Decimal(values[1]),
                quantity_before=int(values[2]),
                quantity_after=int(values[3]),
            )
            for name, values in meters.items()
        ),
        key=lambda change: (-abs(change.amount), change.meter),
    )
    product = _usage_product(after or before)
    return [
        ChangeItem(
            kind="usage",
            product=product,
            amount=new_total - old_total,
            subscription_id=(after or before)[0].subscription_id,
            charge_type=ChargeType.USAGE.value,
            before=old_total,
            after=new_total,
            start=(after or before)[0].charge_start,
            end=(after or before)[0].charge_end,
            meters=tuple(change for change in changes if change.amount),
        )
    ]


@dataclass(frozen=True)
class Duplicate:
    """A charge that appears more than once on one invoice."""

    product: str
    times: int
    amount: Decimal  # one occurrence's subtotal
    start: date
    end: date


def duplicate_charges(invoice: Invoice) -> list[Duplicate]:
    """The charges billed twice (or more) on `invoice`: the same subscription (or
    product), charge type and service period on several lines."""
    seen: dict[tuple[object, ...], list[InvoiceLine]] = {}
    for line in invoice.lines:
        if line.charge_type is ChargeType.USAGE:
            continue  # one line per meter and day is how usage is billed
        key = (
            line.subscription_id or line.product_name,
            line.charge_type,
            line.charge_start,
            line.charge_end,
            line.quantity,
            line.unit_price,
        )
        seen.setdefault(key, []).append(line)
    return [
        Duplicate(
            product=lines[0].product_name,
            times=len(lines),
            amount=lines[0].subtotal,
            start=lines[0].charge_start,
            end=lines[0].charge_end,
        )
        for lines in seen.values()
        if len(lines) > 1
    ]
