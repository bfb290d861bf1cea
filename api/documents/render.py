"""An invoice or credit note as a PDF (reportlab), from the database rows.

The PDF shows who bills whom, the number and its series (D legacy / G new commerce),
the dates, every line with its charge type and charge dates, the totals, the
payments received and the status on `today`. Output is deterministic for the same
rows and day (reportlab's invariant mode), which keeps tests simple.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from api.domain.models import DocumentType, Invoice
from api.domain.services.billing import series_info

STATUS_WORDS = {
    "paid": "Paid",
    "credit": "Credit note",
    "partially_paid": "Partially paid",
    "overdue": "Overdue",
    "unpaid": "Unpaid",
}


def _money(amount: Decimal, currency: str) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,.2f} {currency}"


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_invoice_pdf(invoice: Invoice, *, today: date) -> bytes:
    """The PDF bytes of `invoice` (read inside the caller's session)."""
    customer = invoice.customer
    partner = customer.partner
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=8, leading=10)
    credit = invoice.document_type is DocumentType.CREDIT_NOTE
    title = "Credit note" if credit else "Invoice"
    series = series_info(invoice.number)

    story: list = [
        Paragraph(f"{title} {_escape(invoice.number)}", styles["Title"]),
        Paragraph(
            f"<b>From</b> {_escape(partner.name)} (Partner ID {partner.mpn_id})<br/>"
            f"<b>To</b> {_escape(customer.name)} ({_escape(customer.domain)}, "
            f"tenant {customer.tenant_id})",
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
    ]
    facts = [
        ["Invoice date", _day(invoice.invoice_date)],
        [
            "Billing period",
            f"{_day(invoice.billing_period_start)} to {_day(invoice.billing_period_end)}",
        ],
        ["Available from", _day(invoice.available_on)],
        ["Due date", _day(invoice.due_date)],
        ["Currency", invoice.currency],
        ["Status", STATUS_WORDS.get(invoice.payment_status(today), "")],
    ]
    if series is not None:
        facts.insert(
            0,
            [
                "Series",
                f"{series.series} ({series.name}): {series.period_rule}, "
                f"{series.availability_rule}",
            ],
        )
    if invoice.amends_of is not None and invoice.amends_of.customer_id == customer.id:
        facts.append(["Amends", invoice.amends_of.number])
    story.append(
        Table(
            [[k, Paragraph(_escape(v), small)] for k, v in facts],
            colWidths=[35 * mm, 140 * mm],
            style=TableStyle(
                [
                    ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            ),
        )
    )
    story.append(Spacer(1, 5 * mm))

    rows: list[list] = [
        ["Product", "Charge", "Dates", "Qty", "Unit price", "Subtotal", "Tax", "Total"]
    ]
    for line in invoice.lines:
        dates = (
            _day(line.charge_start)
            if line.charge_start == line.charge_end
            else f"{line.charge_start.isoformat()} to {line.charge_end.isoformat()}"
        )
        rows.append(
            [
                Paragraph(
                    f"{_escape(line.product_name)}<br/>"
                    f"<font size=6>{_escape(line.description)}</font>",
                    small,
                ),
                line.charge_type.value.replace("_", " "),
                Paragraph(dates, small),
                str(line.quantity),
                f"{line.unit_price:,.2f}",
                f"{line.subtotal:,.2f}",
                f"{line.tax:,.2f}",
                f"{line.total:,.2f}",
            ]
        )
    rows.append(
        [
            "",
            "",
            "",
            "",
            "",
            f"{invoice.subtotal:,.2f}",
            f"{invoice.tax_total:,.2f}",
            f"{invoice.total:,.2f}",
        ]
    )
    story.append(
        Table(
            rows,
            colWidths=[
                52 * mm,
                20 * mm,
                27 * mm,
                10 * mm,
                17 * mm,
                17 * mm,
                15 * mm,
                17 * mm,
            ],
            repeatRows=1,
            style=TableStyle(
                [
                    ("FONTSIZE", (0, 0), (-1, -1), 7),
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                    ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
                    ("ALIGN", (3, 0), (-1, -1), "RIGHT"),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            ),
        )
    )
    story.append(Spacer(1, 5 * mm))
    summary = [
        ["Total", _money(invoice.total, invoice.currency)],
        ["Paid", _money(invoice.paid_amount, invoice.currency)],
    ]
    if not credit:
        summary.append(["Balance", _money(invoice.balance, invoice.currency)])
    story.append(
        Table(
            summary,
            colWidths=[35 * mm, 45 * mm],
            style=TableStyle(
                [
                    ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                    ("FONTSIZE", (0, 0), (-1, -1), 9),
                ]
            ),
        )
    )
    for payment in sorted(invoice.payments, key=lambda p: p.received_on):
        story.append(
            Paragraph(
                f"Payment of {_money(payment.amount, payment.currency)} received on "
                f"{_day(payment.received_on)} ({_escape(payment.method)}, "
                f"{_escape(payment.reference)})",
                small,
            )
        )
    if not credit and invoice.balance > 0:
        story.append(Spacer(1, 4 * mm))
        story.append(Paragraph("<b>How to pay</b>", styles["Normal"]))
        story.append(Paragraph(_escape(partner.payment_instructions), small))

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{title} {invoice.number}",
        author=partner.name,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        invariant=1,
    )
    document.build(story)
    return buffer.getvalue()
