"""/documents/invoices/{id}.pdf: the PDF behind a signed, short-lived link.

The link is the only authorisation: forged or tampered links get 403, expired ones
410, and a link minted for one customer never serves another customer's invoice.
"""

from __future__ import annotations

import base64
import re
import time
import zlib
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo.seed import DemoSummary
from api.documents.links import SALT, invoice_pdf_link
from api.documents.render import render_invoice_pdf
from api.domain.models import Invoice
from api.settings import get_settings
from tests.web.conftest import TestClient

STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)


def numbered(session: Session, number: str) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def link_for(
    invoice: Invoice, *, customer_id: int | None = None, now: float | None = None
) -> str:
    return path_of(
        invoice_pdf_link(
            invoice_id=invoice.id,
            customer_id=invoice.customer_id if customer_id is None else customer_id,
            now=now,
        ).url
    )


def pdf_text(content: bytes) -> str:
    """The page content of a reportlab PDF: every stream, decoded (ASCII85 and
    Flate, reportlab's defaults) or as is."""
    chunks = []
    for match in STREAM.finditer(content):
        raw = match.group(1).strip()
        for decode in (
            lambda data: zlib.decompress(base64.a85decode(data, adobe=True)),
            zlib.decompress,
            lambda data: data,
        ):
            try:
                chunks.append(decode(raw))
                break
            except (ValueError, zlib.error):
                continue
    return b"\n".join(chunks).decode("latin-1")


def test_a_valid_link_serves_the_pdf(
    anonymous: TestClient, seeded_db: DemoSummary, seeded_session: Session
) -> None:
    invoice = numbered(
        seeded_session, seeded_db.case("overdue_invoice").invoice_number or ""
    )
    response = anonymous.get(link_for(invoice))  # no service token needed
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert f'filename="{invoice.number}.pdf"' in response.headers["content-disposition"]
    assert "no-store" in response.headers["cache-control"]
    drawn = pdf_text(response.content)
    assert invoice.number in drawn
    assert "Alpine Ski House" in drawn
    assert f"{invoice.total:,.2f}" in drawn
    assert "Overdue" in drawn


def test_the_pdf_is_the_invoices_own(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    note = numbered(seeded_session, seeded_db.case("credit_note").invoice_number or "")
    drawn = pdf_text(render_invoice_pdf(note, today=seeded_db.anchor))
    assert "Credit note" in drawn and note.number in drawn
    assert (note.amends_of.number if note.amends_of else "?") in drawn
    legacy = numbered(
        seeded_session, seeded_db.case("legacy_invoice").invoice_number or ""
    )
    assert "legacy licence-based" in pdf_text(
        render_invoice_pdf(legacy, today=seeded_db.anchor)
    )


def test_an_expired_link_is_gone(
    anonymous: TestClient, seeded_db: DemoSummary, seeded_session: Session
) -> None:
    invoice = numbered(
        seeded_session, seeded_db.case("price_rise").invoice_number or ""
    )
    ttl = get_settings().pdf_link_ttl_seconds
    stale = link_for(invoice, now=time.time() - ttl - 5)
    response = anonymous.get(stale)
    assert response.status_code == 410
    assert response.json()["detail"].startswith("This download link has expired")


def test_swapping_the_invoice_id_is_refused(
    anonymous: TestClient, seeded_db: DemoSummary, seeded_session: Session
) -> None:
    mine = numbered(
        seeded_session, seeded_db.case("price_rise").invoice_number or ""
    )  # Contoso
    theirs = numbered(
        seeded_session, seeded_db.case("partially_paid_invoice").invoice_number or ""
    )
    link = link_for(mine)
    swapped = link.replace(f"/invoices/{mine.id}.pdf", f"/invoices/{theirs.id}.pdf")
    response = anonymous.get(swapped)
    assert response.status_code == 403
    assert theirs.number.encode() not in response.content


def test_swapping_the_customer_id_is_refused(
    anonymous: TestClient, seeded_db: DemoSummary, seeded_session: Session
) -> None:
    theirs = numbered(
        seeded_session, seeded_db.case("partially_paid_invoice").invoice_number or ""
    )
    mine = numbered(seeded_session, seeded_db.case("price_rise").invoice_number or "")
    # A's genuine link with B's invoice and customer ids put in.
    link = link_for(mine)
    forged = link.replace(
        f"/invoices/{mine.id}.pdf", f"/invoices/{theirs.id}.pdf"
    ).replace(f"customer={mine.customer_id}", f"customer={theirs.customer_id}")
    assert anonymous.get(forged).status_code == 403


def test_a_correctly_signed_link_for_the_wrong_customer_serves_nothing(
    anonymous: TestClient, seeded_db: DemoSummary, seeded_session: Session
) -> None:
    # Even a genuinely signed link (say, a bug minted it) pairing B's invoice with
    # A's customer id is refused, because the invoice is not A's.
    theirs = numbered(
        seeded_session, seeded_db.case("partially_paid_invoice").invoice_number or ""
    )
    mine = numbered(seeded_session, seeded_db.case("price_rise").invoice_number or "")
    response = anonymous.get(link_for(theirs, customer_id=mine.customer_id))
    assert response.status_code == 404
    assert not response.content.startswith(b"%PDF")


def test_a_link_lives_for_the_configured_time(
    anonymous: TestClient, seeded_db: DemoSummary, seeded_session: Session
) -> None:
    invoice = numbered(
        seeded_session, seeded_db.case("price_rise").invoice_number or ""
    )
    ttl = get_settings().pdf_link_ttl_seconds
    assert anonymous.get(link_for(invoice, now=time.time() - ttl + 30)).is_success
    assert anonymous.get(link_for(invoice, now=time.time() - ttl - 30)).status_code == (
        410
    )


def test_a_fresher_time_stamp_breaks_the_signature(
    anonymous: TestClient, seeded_db: DemoSummary, seeded_session: Session
) -> None:
    invoice = numbered(
        seeded_session, seeded_db.case("price_rise").invoice_number or ""
    )
    stale = link_for(invoice, now=time.time() - 10_000)
    fresh = link_for(invoice)
    # The stale link with the fresh link's time stamp put in: forged, not expired.
    stale_stamp = stale.split("token=")[1].split(".")[1]
    fresh_stamp = fresh.split("token=")[1].split(".")[1]
    assert stale_stamp != fresh_stamp
    extended = stale.replace(f".{stale_stamp}.", f".{fresh_stamp}.")
    assert anonymous.get(extended).status_code == 403
    assert anonymous.get(stale).status_code == 410


@pytest.mark.parametrize(
    ("secret", "salt"),
    [("not-our-secret-" * 3, SALT), (None, "another-purpose")],
    ids=["another key", "our key, another purpose"],
)
def test_a_token_of_another_key_or_purpose_is_refused(
    anonymous: TestClient,
    seeded_db: DemoSummary,
    seeded_session: Session,
    secret: str | None,
    salt: str,
) -> None:
    invoice = numbered(
        seeded_session, seeded_db.case("price_rise").invoice_number or ""
    )
    token = URLSafeTimedSerializer(
        secret or get_settings().link_signing_secret, salt=salt
    ).dumps([invoice.id, invoice.customer_id])
    url = (
        f"/documents/invoices/{invoice.id}.pdf?customer={invoice.customer_id}"
        f"&token={token}"
    )
    assert anonymous.get(url).status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?customer=1",
        "?customer=x&token=WzEsMV0.aSO7gA.c2lnbmF0dXJl",
        "?customer=1&token=WzEsMV0.aSO7gA.c2lnbmF0dXJl",  # well-formed, not signed
        "?customer=1&token=not-a-token",
        "?customer=1&token=" + "A" * 500 + ".B.C",
        "?customer=1&expires=9999999999&signature=" + "0" * 64,  # the old format
    ],
)
def test_malformed_links_are_refused_not_crashed(
    anonymous: TestClient, seeded_db: DemoSummary, query: str
) -> None:
    response = anonymous.get(f"/documents/invoices/1.pdf{query}")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert anonymous.get(f"/documents/invoices/abc.pdf{query}").status_code == 403


def test_a_deleted_invoice_is_not_found(
    anonymous: TestClient, seeded_db: DemoSummary, seeded_session: Session
) -> None:
    invoice = numbered(
        seeded_session, seeded_db.case("price_rise").invoice_number or ""
    )
    link = link_for(invoice)
    seeded_session.delete(invoice)
    seeded_session.commit()
    assert anonymous.get(link).status_code == 404


def test_the_pdf_bytes_are_a_real_pdf(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    invoice = numbered(
        seeded_session, seeded_db.case("usage_invoice").invoice_number or ""
    )
    content = render_invoice_pdf(invoice, today=seeded_db.anchor)
    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
    assert BytesIO(content).getbuffer().nbytes > 1500
    # Deterministic for the same rows and day.
    assert render_invoice_pdf(invoice, today=seeded_db.anchor) == content


def test_an_imported_invoice_with_the_partners_pdf_serves_that_pdf(
    anonymous: TestClient,
    seeded_db: DemoSummary,
    seeded_session: Session,
    tmp_path: Path,
) -> None:
    from api.imports.invoices import import_invoices

    sample = Path(__file__).parents[3] / "docs" / "samples" / "invoices.csv"
    theirs = b"%PDF-1.4\n% the partner's own invoice G000090001\n%%EOF\n"
    (tmp_path / "G000090001.pdf").write_bytes(theirs)
    text = sample.read_text().splitlines()
    rows = [text[0]] + [
        line.replace(",USD,,,", ",USD,,G000090001.pdf,")
        if ",G000090001,invoice," in line
        else line
        for line in text[1:]
    ]
    (tmp_path / "invoices.csv").write_text("\n".join(rows) + "\n")
    report = import_invoices(
        seeded_session, tmp_path / "invoices.csv", partner_slug="northwind"
    )
    seeded_session.commit()
    assert report.pdfs_stored == 1

    response = anonymous.get(link_for(numbered(seeded_session, "G000090001")))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == theirs
    # The credit note came without one: ours is rendered.
    note = anonymous.get(link_for(numbered(seeded_session, "G000090002")))
    assert note.status_code == 200
    assert note.content.startswith(b"%PDF-") and note.content != theirs
    assert "G000090002" in pdf_text(note.content)
