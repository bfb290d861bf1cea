"""The partner's invoices to its customers, imported from its billing system.

    report = import_invoices(session, "october.csv", partner_slug="northwind")

The file is CSV (with a header row) or JSON Lines (one object a line), one row per
invoice line; the columns are `InvoiceRow`'s fields, documented for partners in
docs/onboarding.md ("Importing your invoices"), with a sample in
docs/samples/invoices.csv. The invoice's own fields (customer, dates, currency,
document type, ...) are repeated on each of its lines and must agree.

* All or nothing: every problem in the file is found first and reported as
  `file:line: problem` (`InvoiceImportError`); nothing is written unless there is
  none.
* Idempotent: each invoice keeps a fingerprint of what was imported
  (`Invoice.import_digest`); an invoice whose fingerprint is unchanged is not
  written again, a changed one is updated in place (its lines replaced), so
  importing the same file twice changes nothing.
* Bulk: headers, lines and PDFs are written with executemany INSERTs and
  primary-key UPDATEs, a few statements per file, whatever its size
  (`make bench-import`, docs/benchmarks/import.md).

Credit notes are `document_type: credit_note` with negative lines and the number of
the invoice they credit in `amends`; an amended (reissued) invoice is an invoice with
`amends`. A line's `pdf` names the partner's own PDF of the invoice (relative to the
file's folder); it is stored and served instead of the PDF we render.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any, Optional, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from api.domain.datafiles import DataFileError, Problem, display_name, error_message
from api.domain.models import (
    CENT,
    BillingFrequency,
    ChargeType,
    Customer,
    DocumentType,
    Invoice,
    InvoiceLine,
    InvoicePdf,
    Partner,
    Subscription,
)

GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_PROBLEMS = 200  # more than this many problems: the rest are counted, not listed
CHUNK = 500  # names per IN (...) query

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Cents = Annotated[Decimal, Field(decimal_places=2, allow_inf_nan=False)]


class InvoiceRow(BaseModel):
    """One row of an invoice file: one line of one invoice (or credit note)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The invoice (repeated on each of its lines).
    customer_tenant_id: Text = Field(
        description="The customer's Microsoft Entra tenant id (a GUID)."
    )
    invoice_number: Annotated[Text, StringConstraints(max_length=20)] = Field(
        description="Your invoice number, as on the invoice."
    )
    document_type: DocumentType = Field(
        default=DocumentType.INVOICE, description="invoice or credit_note."
    )
    amends: Optional[Annotated[Text, StringConstraints(max_length=20)]] = Field(
        default=None,
        description="The number of the invoice this one credits or replaces "
        "(required on a credit note).",
    )
    invoice_date: date
    billing_period_start: date
    billing_period_end: date
    due_date: date
    available_on: Optional[date] = Field(
        default=None, description="When the customer could see it (default: date)."
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    paid_amount: Optional[Cents] = Field(
        default=None,
        description="What the customer has paid of it so far (empty: keep ours).",
    )
    pdf: Optional[Text] = Field(
        default=None,
        description="Your PDF of the invoice, relative to the file's folder.",
    )
    # The line.
    line_type: ChargeType
    subscription_id: Optional[Annotated[Text, StringConstraints(max_length=36)]] = None
    order_id: Optional[Annotated[Text, StringConstraints(max_length=36)]] = None
    product: Annotated[Text, StringConstraints(max_length=200)]
    sku: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=300)
    ] = ""
    quantity: int = Field(ge=-1_000_000, le=1_000_000)
    unit_price: Annotated[Decimal, Field(allow_inf_nan=False, max_digits=18)]
    subtotal: Optional[Cents] = Field(
        default=None, description="Default: quantity x unit price, to the cent."
    )
    tax: Cents = Decimal("0.00")
    charge_start: date
    charge_end: date
    billing_cycle: Optional[BillingFrequency] = None
    prorated_days: Optional[int] = Field(default=None, ge=1, le=1200)
    cycle_days: Optional[int] = Field(default=None, ge=1, le=1200)

    @field_validator("customer_tenant_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        if not GUID.fullmatch(value):
            raise ValueError(f"{value!r} is not a tenant id (a GUID)")
        return value.lower()

    @field_validator("invoice_number", "amends")
    @classmethod
    def _upper(cls, value: Optional[str]) -> Optional[str]:
        return value.upper() if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> InvoiceRow:
        if self.billing_period_end < self.billing_period_start:
            raise ValueError("billing_period_end is before billing_period_start")
        if self.charge_end < self.charge_start:
            raise ValueError("charge_end is before charge_start")
        if self.due_date < self.invoice_date:
            raise ValueError("due_date is before invoice_date")
        if self.document_type is DocumentType.CREDIT_NOTE and self.amends is None:
            raise ValueError("a credit note names the invoice it credits in 'amends'")
        if self.amends == self.invoice_number:
            raise ValueError("an invoice cannot amend itself")
        if (self.prorated_days is None) != (self.cycle_days is None):
            raise ValueError("give both prorated_days and cycle_days, or neither")
        if (
            self.prorated_days
            and self.cycle_days
            and (self.prorated_days > self.cycle_days)
        ):
            raise ValueError("prorated_days is more than cycle_days")
        if self.document_type is DocumentType.CREDIT_NOTE and self.line_total > 0:
            raise ValueError("a credit note's lines are negative (or zero)")
        return self

    @property
    def line_subtotal(self) -> Decimal:
        if self.subtotal is not None:
            return self.subtotal.quantize(CENT)
        return (self.quantity * self.unit_price).quantize(CENT, ROUND_HALF_UP)

    @property
    def line_total(self) -> Decimal:
        return (self.line_subtotal + self.tax).quantize(CENT)


COLUMNS = list(InvoiceRow.model_fields)
REQUIRED = [
    name for name, info in InvoiceRow.model_fields.items() if info.is_required()
]
# The fields of the invoice, which each of its lines repeats.
HEADER_FIELDS = (
    "customer_tenant_id",
    "document_type",
    "amends",
    "invoice_date",
    "billing_period_start",
    "billing_period_end",
    "due_date",
    "available_on",
    "currency",
    "paid_amount",
    "pdf",
)


class InvoiceImportError(DataFileError):
    """The file cannot be imported; `problems` lists every `file:line: problem`."""


@dataclass
class _Document:
    """One invoice of the file: its first row, and every line with its file line."""

    number: str
    first_line: int
    head: InvoiceRow
    rows: list[tuple[int, InvoiceRow]] = field(default_factory=list)
    customer_id: int = 0
    pdf_bytes: Optional[bytes] = None
    pdf_sha256: Optional[str] = None
    digest: str = ""

    @property
    def subtotal(self) -> Decimal:
        return sum((row.line_subtotal for _, row in self.rows), Decimal("0.00"))

    @property
    def tax(self) -> Decimal:
        return sum((row.tax for _, row in self.rows), Decimal("0.00"))


@dataclass
class ImportReport:
    """What an import wrote."""

    file: str
    partner: str
    lines_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    credit_notes: int = 0
    lines_written: int = 0
    pdfs_stored: int = 0
    customers: int = 0

    @property
    def invoices(self) -> int:
        return self.created + self.updated + self.unchanged

    def describe(self) -> str:
        return (
            f"{self.file}: {self.lines_read} lines, {self.invoices} invoices for "
            f"{self.customers} customers of {self.partner} ({self.created} new, "
            f"{self.updated} changed, {self.unchanged} unchanged; "
            f"{self.credit_notes} credit notes); wrote {self.lines_written} lines, "
            f"{self.pdfs_stored} PDFs"
        )


# --------------------------------------------------------------------------- reading


def _present(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its empty cells (an empty cell is a value not given)."""
    return {
        key: value
        for key, value in record.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }


def _unknown_column(name: str) -> str:
    close = difflib.get_close_matches(name, COLUMNS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown column {name!r}{hint}"


def _csv_records(
    text: Iterable[str], name: str, problems: list[Problem]
) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(text)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        problems.append(Problem(name, None, "the file is empty"))
        return
    unknown = [column for column in header if column not in InvoiceRow.model_fields]
    missing = [column for column in REQUIRED if column not in header]
    for column in unknown:
        problems.append(Problem(name, 1, _unknown_column(column)))
    if missing:
        problems.append(
            Problem(name, 1, f"missing required columns: {', '.join(missing)}")
        )
    if unknown or missing:
        return
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                Problem(
                    name,
                    start,
                    f"{len(cells)} cells where the header has {len(header)} columns",
                )
            )
            continue
        yield start, dict(zip(header, cells))


def _jsonl_records(
    text: Iterable[str], name: str, problems: list[Problem]
) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(text, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            problems.append(Problem(name, number, f"not JSON: {exc}"))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(name, number, "expected a JSON object"))
            continue
        yield number, record


def _row_problems(exc: ValidationError, name: str, line: int) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            message = _unknown_column(where)
        else:
            message = error_message(error)
            if where:
                message = f"{where}: {message}"
        problems.append(Problem(name, line, message))
    return problems


def read_rows(
    path: Union[str, Path], *, file_format: Optional[str] = None
) -> list[tuple[int, InvoiceRow]]:
    """Every row of the file with its line number.

    Raises:
        InvoiceImportError: The file cannot be read, or a row is not valid.
    """
    rows, problems = _read(path, file_format)
    if problems:
        raise InvoiceImportError(problems)
    return rows


def _read(
    path: Union[str, Path], file_format: Optional[str]
) -> tuple[list[tuple[int, InvoiceRow]], list[Problem]]:
    """The valid rows of the file, and the problems of the others.

    Raises:
        InvoiceImportError: The file cannot be read at all.
    """
    name = display_name(path)
    kind = (file_format or Path(path).suffix.lstrip(".")).lower()
    if kind in ("ndjson", "json"):
        kind = "jsonl"
    if kind not in ("csv", "jsonl"):
        raise InvoiceImportError(
            [Problem(name, None, "give a .csv or .jsonl file (or --format csv|jsonl)")]
        )
    problems: list[Problem] = []
    rows: list[tuple[int, InvoiceRow]] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            records = (
                _csv_records(handle, name, problems)
                if kind == "csv"
                else _jsonl_records(handle, name, problems)
            )
            for line, record in records:
                try:
                    rows.append((line, InvoiceRow.model_validate(_present(record))))
                except ValidationError as exc:
                    problems.extend(_row_problems(exc, name, line))
    except OSError as exc:
        raise InvoiceImportError(
            [Problem(name, None, f"cannot read: {exc.strerror}")]
        ) from None
    except UnicodeDecodeError:
        raise InvoiceImportError(
            [Problem(name, None, "not a UTF-8 text file")]
        ) from None
    except csv.Error as exc:
        problems.append(Problem(name, None, f"CSV: {exc}"))
    if not rows and not problems:
        problems.append(Problem(name, None, "the file has no invoice lines"))
    return rows, problems


# --------------------------------------------------------------------------- checking


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _group(
    rows: list[tuple[int, InvoiceRow]], name: str
) -> tuple[dict[str, _Document], list[Problem]]:
    documents: dict[str, _Document] = {}
    problems: list[Problem] = []
    for line, row in rows:
        document = documents.get(row.invoice_number)
        if document is None:
            document = documents[row.invoice_number] = _Document(
                row.invoice_number, line, row
            )
        else:
            for column in HEADER_FIELDS:
                mine, theirs = getattr(row, column), getattr(document.head, column)
                if mine != theirs:
                    problems.append(
                        Problem(
                            name,
                            line,
                            f"invoice {row.invoice_number}: {column} is "
                            f"{_shown(mine)} here but {_shown(theirs)} on line "
                            f"{document.first_line}",
                        )
                    )
        document.rows.append((line, row))
    return documents, problems


def _shown(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, (DocumentType, ChargeType)):
        return value.value
    return str(value)


def _check(
    session: Session,
    partner: Partner,
    documents: dict[str, _Document],
    name: str,
    folder: Path,
) -> list[Problem]:
    """The problems that need the database (customers, subscriptions, numbers) or
    the disk (PDFs); fills in each document's customer and PDF."""
    problems: list[Problem] = []

    def problem(line: int, message: str) -> None:
        problems.append(Problem(name, line, message))

    pattern = (
        re.compile(partner.invoice_number_pattern)
        if partner.invoice_number_pattern
        else None
    )
    tenants = sorted({d.head.customer_tenant_id for d in documents.values()})
    customers: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(tenants):
        for customer_id, tenant, partner_id in session.execute(
            select(Customer.id, Customer.tenant_id, Customer.partner_id).where(
                Customer.tenant_id.in_(chunk)
            )
        ):
            customers[tenant] = (customer_id, partner_id)

    wanted = sorted(
        set(documents) | {d.head.amends for d in documents.values() if d.head.amends}
    )
    existing: dict[str, tuple[int, int, Optional[str]]] = {}
    names: dict[int, str] = {}
    for chunk in _chunks(wanted):
        for number, customer_id, customer_name, partner_id in session.execute(
            select(Invoice.number, Customer.id, Customer.name, Customer.partner_id)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(Invoice.number.in_(chunk))
        ):
            existing[number] = (customer_id, partner_id, customer_name)
            names[customer_id] = customer_name

    subscription_ids = sorted(
        {
            row.subscription_id
            for d in documents.values()
            for _, row in d.rows
            if row.subscription_id
        }
    )
    subscriptions: dict[str, int] = {}
    for chunk in _chunks(subscription_ids):
        for subscription_id, customer_id in session.execute(
            select(Subscription.id, Subscription.customer_id).where(
                Subscription.id.in_(chunk)
            )
        ):
            subscriptions[subscription_id] = customer_id

    pdfs: dict[Path, tuple[bytes, str]] = {}
    for number, document in documents.items():
        line, head = document.first_line, document.head
        if pattern is not None and not pattern.fullmatch(number):
            example = partner.invoice_number_example or ""
            problem(
                line,
                f"invoice number {number!r} does not follow {partner.slug}'s "
                f"numbering: pattern {partner.invoice_number_pattern}, e.g. "
                f"{example} (invoice_numbering in the partner profile)",
            )
        found = customers.get(head.customer_tenant_id)
        if found is None:
            problem(
                line,
                f"no customer with tenant id {head.customer_tenant_id} (sync "
                "Partner Center first: csp-desk partner-center sync)",
            )
            continue
        if found[1] != partner.id:
            problem(
                line,
                f"tenant {head.customer_tenant_id} is not a customer of {partner.slug}",
            )
            continue
        document.customer_id = found[0]
        taken = existing.get(number)
        if taken is not None and taken[0] != document.customer_id:
            whose = (
                f"an invoice to {taken[2]}"
                if taken[1] == partner.id
                else "another partner's invoice"
            )
            problem(line, f"invoice number {number} is already {whose}")
        if head.amends:
            target = documents.get(head.amends)
            target_customer = (
                target.head.customer_tenant_id if target is not None else None
            )
            if target is not None:
                if target_customer != head.customer_tenant_id:
                    problem(
                        line,
                        f"invoice {number} amends {head.amends}, which is for "
                        "another customer",
                    )
            elif head.amends in existing:
                if existing[head.amends][0] != document.customer_id:
                    problem(
                        line,
                        f"invoice {number} amends {head.amends}, which is for "
                        "another customer",
                    )
            else:
                problem(
                    line,
                    f"invoice {number} amends {head.amends}, which is neither in "
                    "this file nor imported before",
                )
        for row_line, row in document.rows:
            if row.subscription_id is None:
                continue
            owner = subscriptions.get(row.subscription_id)
            if owner != document.customer_id:
                problem(
                    row_line,
                    f"subscription {row.subscription_id} is not one of this "
                    "customer's subscriptions (sync Partner Center first, or leave "
                    "subscription_id empty)",
                )
        if head.pdf:
            path = (folder / head.pdf).resolve()
            if path not in pdfs:
                try:
                    if path.stat().st_size > MAX_PDF_BYTES:
                        problem(line, f"pdf {head.pdf}: larger than 20 MB")
                        continue
                    content = path.read_bytes()
                except OSError as exc:
                    problem(line, f"pdf {head.pdf}: cannot read: {exc.strerror}")
                    continue
                if not content.startswith(b"%PDF-"):
                    problem(line, f"pdf {head.pdf}: not a PDF file")
                    continue
                pdfs[path] = (content, hashlib.sha256(content).hexdigest())
            document.pdf_bytes, document.pdf_sha256 = pdfs[path]
    return problems


def _digest(document: _Document) -> str:
    """A fingerprint of everything the import writes for `document`."""
    hasher = hashlib.sha256()
    head = document.head
    parts: list[Any] = [
        document.customer_id,
        *(getattr(head, column) for column in HEADER_FIELDS if column != "pdf"),
        document.pdf_sha256,
    ]
    hasher.update(repr(parts).encode())
    for _, row in document.rows:
        hasher.update(
            repr(
                (
                    row.line_type.value,
                    row.subscription_id,
                    row.order_id,
                    row.product,
                    row.sku,
                    row.description,
                    row.quantity,
                    row.unit_price.quantize(CENT, ROUND_HALF_UP),
                    row.line_subtotal,
                    row.tax,
                    row.charge_start,
                    row.charge_end,
                    row.billing_cycle,
                    row.prorated_days,
                    row.cycle_days,
                )
            ).encode()
        )
    return hasher.hexdigest()


# --------------------------------------------------------------------------- writing


def _header(document: _Document) -> dict[str, Any]:
    head = document.head
    subtotal, tax = document.subtotal, document.tax
    values: dict[str, Any] = {
        "number": document.number,
        "customer_id": document.customer_id,
        "document_type": head.document_type,
        "invoice_date": head.invoice_date,
        "billing_period_start": head.billing_period_start,
        "billing_period_end": head.billing_period_end,
        "available_on": head.available_on or head.invoice_date,
        "due_date": head.due_date,
        "currency": head.currency,
        "subtotal": subtotal,
        "tax_total": tax,
        "total": subtotal + tax,
        "import_digest": document.digest,
    }
    if head.paid_amount is not None:
        values["paid_amount"] = head.paid_amount
    return values


def _lines(document: _Document, invoice_id: int) -> Iterator[dict[str, Any]]:
    for _, row in document.rows:
        subtotal = row.line_subtotal
        yield {
            "invoice_id": invoice_id,
            "subscription_id": row.subscription_id,
            "order_id": row.order_id,
            "product_name": row.product,
            "sku": row.sku,
            "charge_type": row.line_type,
            "description": row.description,
            "quantity": row.quantity,
            "unit_price": row.unit_price.quantize(CENT, ROUND_HALF_UP),
            "subtotal": subtotal,
            "tax": row.tax,
            "total": subtotal + row.tax,
            "charge_start": row.charge_start,
            "charge_end": row.charge_end,
            "billing_cycle": row.billing_cycle,
            "prorated_days": row.prorated_days,
            "cycle_days": row.cycle_days,
        }


def _write(
    session: Session, documents: dict[str, _Document], report: ImportReport
) -> None:
    numbers = sorted(documents)
    ids: dict[str, int] = {}
    digests: dict[str, Optional[str]] = {}
    for chunk in _chunks(numbers):
        for invoice_id, number, digest in session.execute(
            select(Invoice.id, Invoice.number, Invoice.import_digest).where(
                Invoice.number.in_(chunk)
            )
        ):
            ids[number], digests[number] = invoice_id, digest

    new = [d for n, d in documents.items() if n not in ids]
    changed = [d for n, d in documents.items() if n in ids and digests[n] != d.digest]
    report.unchanged = len(documents) - len(new) - len(changed)
    report.created, report.updated = len(new), len(changed)
    if not new and not changed:
        return

    if new:
        headers = [{**_header(d), "paid_amount": Decimal("0.00")} for d in new]
        for d, values in zip(new, headers):
            if d.head.paid_amount is not None:
                values["paid_amount"] = d.head.paid_amount
        for chunk in _chunks(headers):
            for invoice_id, number in session.execute(
                insert(Invoice).returning(
                    Invoice.id, Invoice.number, sort_by_parameter_order=True
                ),
                list(chunk),
            ):
                ids[number] = invoice_id
    if changed:
        changed_ids = [ids[d.number] for d in changed]
        session.execute(
            update(Invoice),
            [
                {"id": ids[d.number], **_header(d), "amends_of_id": None}
                for d in changed
            ],
        )
        for chunk in _chunks(changed_ids):
            session.execute(
                delete(InvoiceLine).where(InvoiceLine.invoice_id.in_(chunk))
            )
            session.execute(delete(InvoicePdf).where(InvoicePdf.invoice_id.in_(chunk)))

    written = new + changed
    amended = [d for d in written if d.head.amends]
    for chunk in _chunks(sorted({d.head.amends for d in amended if d.head.amends})):
        for invoice_id, number in session.execute(
            select(Invoice.id, Invoice.number).where(Invoice.number.in_(chunk))
        ):
            ids.setdefault(number, invoice_id)
    if amended:
        session.execute(
            update(Invoice),
            [
                {"id": ids[d.number], "amends_of_id": ids[d.head.amends]}
                for d in amended
                if d.head.amends
            ],
        )
    lines = [line for d in written for line in _lines(d, ids[d.number])]
    if lines:
        session.execute(insert(InvoiceLine), lines)
    report.lines_written = len(lines)
    pdfs = [
        {
            "invoice_id": ids[d.number],
            "filename": Path(d.head.pdf).name,
            "sha256": d.pdf_sha256,
            "content": d.pdf_bytes,
        }
        for d in written
        if d.head.pdf and d.pdf_bytes is not None
    ]
    if pdfs:
        session.execute(insert(InvoicePdf), pdfs)
    report.pdfs_stored = len(pdfs)
    session.expire_all()


# --------------------------------------------------------------------------- entry


class UnknownPartner(LookupError):
    """No partner has the slug given."""


def import_invoices(
    session: Session,
    path: Union[str, Path],
    *,
    partner_slug: str,
    file_format: Optional[str] = None,
) -> ImportReport:
    """Import the invoice file at `path` for the partner `partner_slug`.

    Flushes, never commits: the caller owns the transaction (one per file).

    Raises:
        UnknownPartner: No partner has that slug.
        InvoiceImportError: The file has problems; nothing was written.
    """
    partner = session.scalar(select(Partner).where(Partner.slug == partner_slug))
    if partner is None:
        raise UnknownPartner(partner_slug)
    name = display_name(path)
    # Every problem at once: those of the rows, then those between the valid rows
    # (an invoice's lines that disagree) and against the database and the disk.
    rows, problems = _read(path, file_format)
    documents, grouped = _group(rows, name)
    problems += grouped
    problems += _check(session, partner, documents, name, Path(path).parent)
    if problems:
        raise InvoiceImportError(problems)
    for document in documents.values():
        document.digest = _digest(document)
    report = ImportReport(
        file=name,
        partner=partner.slug,
        lines_read=len(rows),
        credit_notes=sum(
            d.head.document_type is DocumentType.CREDIT_NOTE for d in documents.values()
        ),
        customers=len({d.customer_id for d in documents.values()}),
    )
    _write(session, documents, report)
    session.flush()
    return report


__all__ = [
    "COLUMNS",
    "MAX_PROBLEMS",
    "ImportReport",
    "InvoiceImportError",
    "InvoiceRow",
    "UnknownPartner",
    "import_invoices",
    "read_rows",
]
