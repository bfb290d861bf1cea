"""`csp-desk import invoices`: the partner's invoices to its customers from a file.

The sample in docs/samples/ is imported into the demo (northwind's customers), then
broken one way at a time: each problem is reported at its line and nothing is
written. Importing the same file twice writes nothing the second time.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.demo.seed import DemoSummary
from api.domain.models import DocumentType, Invoice, InvoiceLine
from api.imports.invoices import InvoiceImportError, import_invoices
from api.ops.cli import main

SAMPLE = Path(__file__).parents[2] / "docs" / "samples" / "invoices.csv"
CONTOSO = "7d42ce78-d321-5d35-b202-3916176fc7ed"
WOODGROVE = "3b54e058-a443-593c-8eb6-dc4b030736f2"  # fabrikam's customer
TEAMS_PHONE = "cad3f78d-6a7c-56e3-a4fb-f5124aa5d5c2"  # contoso's subscription


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are named relative to the working directory in problems."""
    monkeypatch.chdir(tmp_path)


def sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def invoice(session: Session, number: str) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


def counts(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Invoice)) or 0,
        session.scalar(select(func.count()).select_from(InvoiceLine)) or 0,
    )


def problems_of(session: Session, path: Path) -> list[str]:
    before = counts(session)
    with pytest.raises(InvoiceImportError) as caught:
        import_invoices(session, path, partner_slug="northwind")
    session.rollback()
    assert counts(session) == before  # all or nothing
    return [str(problem) for problem in caught.value.problems]


def test_the_sample_imports_with_its_credit_note(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    report = import_invoices(seeded_session, SAMPLE, partner_slug="northwind")
    seeded_session.commit()
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert (report.lines_read, report.lines_written, report.credit_notes) == (4, 4, 1)

    bill = invoice(seeded_session, "G000090001")
    assert bill.customer.domain == "contoso.com"
    assert bill.document_type is DocumentType.INVOICE
    # 45 x 37.80 + 94.50 (prorated, as given) + 40 x 12.00
    assert bill.subtotal == Decimal("2275.50")
    assert bill.tax_total == Decimal("227.55")
    assert bill.total == Decimal("2503.05")
    assert bill.paid_amount == Decimal("0.00")
    assert [line.charge_type.value for line in bill.lines] == [
        "cycle_charge",
        "add_quantity",
        "cycle_charge",
    ]
    added = bill.lines[1]
    assert (added.prorated_days, added.cycle_days) == (15, 30)
    assert added.subscription_id == "5657d4b0-6541-5261-a546-f7fe29541f70"

    note = invoice(seeded_session, "G000090002")
    assert note.document_type is DocumentType.CREDIT_NOTE
    assert note.amends_of is not None and note.amends_of.number == "G000090001"
    assert note.total == Decimal("-103.95")
    assert note.payment_status(note.invoice_date) == "credit"


def test_importing_the_same_file_again_changes_nothing(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    import_invoices(seeded_session, SAMPLE, partner_slug="northwind")
    seeded_session.commit()
    line_ids = [line.id for line in invoice(seeded_session, "G000090001").lines]
    before = counts(seeded_session)

    again = import_invoices(seeded_session, SAMPLE, partner_slug="northwind")
    seeded_session.commit()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert again.lines_written == 0
    assert counts(seeded_session) == before
    assert [line.id for line in invoice(seeded_session, "G000090001").lines] == (
        line_ids
    )


def test_a_changed_file_updates_the_invoice_in_place(
    seeded_db: DemoSummary, seeded_session: Session, tmp_path: Path
) -> None:
    import_invoices(seeded_session, SAMPLE, partner_slug="northwind")
    seeded_session.commit()
    first = invoice(seeded_session, "G000090001")
    first_id = first.id
    first.paid_amount = Decimal("100.00")  # a payment recorded in between
    seeded_session.commit()

    rows = sample_rows()
    rows[2]["quantity"] = "41"  # one more Teams Phone seat
    path = write_csv(tmp_path / "changed.csv", rows)
    report = import_invoices(seeded_session, path, partner_slug="northwind")
    seeded_session.commit()
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert report.lines_written == 3
    seeded_session.expire_all()
    bill = invoice(seeded_session, "G000090001")
    assert bill.id == first_id
    assert [line.quantity for line in bill.lines] == [45, 5, 41]
    assert bill.subtotal == Decimal("2287.50")
    assert bill.paid_amount == Decimal("100.00")  # not given in the file: kept
    note = invoice(seeded_session, "G000090002")
    assert note.amends_of_id == first_id


def test_json_lines_import_the_same(
    seeded_db: DemoSummary, seeded_session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "invoices.jsonl"
    with path.open("w") as handle:
        for row in sample_rows():
            record: dict[str, object] = {k: v for k, v in row.items() if v != ""}
            record["quantity"] = int(row["quantity"])
            record["unit_price"] = float(row["unit_price"])
            handle.write(json.dumps(record) + "\n")
    report = import_invoices(seeded_session, path, partner_slug="northwind")
    assert (report.created, report.lines_written) == (2, 4)
    assert invoice(seeded_session, "G000090001").total == Decimal("2503.05")


@pytest.mark.parametrize(
    ("row", "change", "expected"),
    [
        (1, {"invoice_date": "2026-13-01"}, "3: invoice_date: "),
        (0, {"quantity": "many"}, "2: quantity: "),
        (2, {"line_type": "refund"}, "4: line_type: 'refund' is not one of"),
        (0, {"customer_tenant_id": "contoso"}, "2: customer_tenant_id: 'contoso'"),
        (1, {"charge_end": "2026-11-01"}, "3: charge_end is before charge_start"),
        (
            3,
            {"amends": ""},
            "5: a credit note names the invoice it credits in 'amends'",
        ),
        (3, {"subtotal": "94.50"}, "5: a credit note's lines are negative"),
        (
            3,
            {"amends": "G000099999"},
            "5: invoice G000090002 amends G000099999, which is neither in this "
            "file nor imported before",
        ),
        (
            1,
            {"due_date": "2027-01-15"},
            "3: invoice G000090001: due_date is 2027-01-15 here but 2026-12-31 on "
            "line 2",
        ),
        (
            0,
            {"customer_tenant_id": "00000000-0000-0000-0000-000000000001"},
            "2: no customer with tenant id 00000000-0000-0000-0000-000000000001",
        ),
        (2, {"prorated_days": "3"}, "4: give both prorated_days and cycle_days"),
    ],
)
def test_each_problem_is_reported_at_its_line(
    seeded_db: DemoSummary,
    seeded_session: Session,
    tmp_path: Path,
    row: int,
    change: dict[str, str],
    expected: str,
) -> None:
    rows = sample_rows()
    rows[row].update(change)
    path = write_csv(tmp_path / "wrong.csv", rows)
    problems = problems_of(seeded_session, path)
    assert any(problem.startswith(f"wrong.csv:{expected}") for problem in problems), (
        problems
    )


def test_problems_that_need_the_partners_data(
    seeded_db: DemoSummary, seeded_session: Session, tmp_path: Path
) -> None:
    existing = seeded_session.scalars(
        select(Invoice.number).where(Invoice.customer.has(domain="woodgrovebank.com"))
    ).first()
    rows = sample_rows()
    for row in rows[:3]:
        row["invoice_number"] = "NW-0001"  # not northwind's numbering
    rows[3]["invoice_number"] = existing or ""
    rows[3]["amends"] = "NW-0001"
    woodgrove = dict(rows[0], invoice_number="G000090009", customer_tenant_id=WOODGROVE)
    rows.append(woodgrove)
    rows.append(
        dict(
            rows[0],
            invoice_number="G000090010",
            subscription_id=TEAMS_PHONE.replace("c", "0"),
        )
    )
    path = write_csv(tmp_path / "wrong.csv", rows)
    problems = problems_of(seeded_session, path)
    assert (
        "wrong.csv:2: invoice number 'NW-0001' does not follow northwind's "
        "numbering: pattern [DG]\\d{9}, e.g. G000024101 (invoice_numbering in the "
        "partner profile)"
    ) in problems
    assert (
        f"wrong.csv:5: invoice number {existing} is already another partner's invoice"
        in problems
    )
    assert f"wrong.csv:6: tenant {WOODGROVE} is not a customer of northwind" in problems
    assert any(
        p.startswith("wrong.csv:7: subscription ")
        and "is not one of this customer" in p
        for p in problems
    ), problems


def test_a_bad_header_and_a_missing_pdf(
    seeded_db: DemoSummary, seeded_session: Session, tmp_path: Path
) -> None:
    rows = [
        {("qty" if k == "quantity" else k): v for k, v in r.items()}
        for r in sample_rows()
    ]
    problems = problems_of(seeded_session, write_csv(tmp_path / "wrong.csv", rows))
    assert "wrong.csv:1: unknown column 'qty'" in problems
    assert "wrong.csv:1: missing required columns: quantity" in problems

    rows = sample_rows()
    for row in rows[:3]:
        row["pdf"] = "pdfs/G000090001.pdf"
    (tmp_path / "pdfs").mkdir()
    problems = problems_of(seeded_session, write_csv(tmp_path / "wrong.csv", rows))
    assert any(
        p.startswith("wrong.csv:2: pdf pdfs/G000090001.pdf: cannot read")
        for p in problems
    ), problems
    (tmp_path / "pdfs" / "G000090001.pdf").write_text("not a pdf")
    problems = problems_of(seeded_session, write_csv(tmp_path / "wrong.csv", rows))
    assert problems == ["wrong.csv:2: pdf pdfs/G000090001.pdf: not a PDF file"]


def test_the_command_reports_and_refuses(
    seeded_db: DemoSummary,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(SAMPLE.parent)
    assert main(["import", "invoices", "invoices.csv", "--partner", "northwind"]) == 0
    assert capsys.readouterr().out == (
        "import invoices: invoices.csv: 4 lines, 2 invoices for 1 customers of "
        "northwind (2 new, 0 changed, 0 unchanged; 1 credit notes); wrote 4 lines, "
        "0 PDFs\n"
    )
    assert main(["import", "invoices", "invoices.csv", "--partner", "northwind"]) == 0
    assert "(0 new, 0 changed, 2 unchanged;" in capsys.readouterr().out

    rows = sample_rows()
    rows[1]["tax"] = "9.456"
    wrong = write_csv(tmp_path / "wrong.csv", rows)
    assert main(["import", "invoices", str(wrong), "--partner", "northwind"]) == 1
    err = capsys.readouterr().err
    assert "wrong.csv:3: tax: " in err
    assert err.endswith("import invoices: nothing was imported\n")
    assert main(["import", "invoices", str(wrong), "--partner", "nobody"]) == 1
    assert "no partner with slug 'nobody'" in capsys.readouterr().err


def test_every_problem_of_the_file_is_listed_at_once(
    seeded_db: DemoSummary, seeded_session: Session, tmp_path: Path
) -> None:
    rows = sample_rows()
    rows[0]["invoice_date"] = "2026-13-01"  # a bad cell: that row is left out
    rows[2]["due_date"] = "2027-01-15"  # disagrees with the invoice's next line
    rows[3]["amends"] = ""
    problems = problems_of(seeded_session, write_csv(tmp_path / "october.csv", rows))
    assert [p.split(":", 2)[1] for p in problems] == ["2", "4", "5"]
    assert problems[1] == (
        "october.csv:4: invoice G000090001: due_date is 2027-01-15 here but "
        "2026-12-31 on line 3"
    )


def test_on_postgresql_too(postgres_url: str, tmp_path: Path) -> None:
    """The bulk writes (INSERT ... RETURNING, primary-key UPDATEs) on PostgreSQL:
    import, import again unchanged, import a change."""
    from datetime import date

    from api.domain.db import make_engine
    from api.domain.migrate import upgrade
    from api.domain.models import (
        BillingFrequency,
        Commerce,
        Customer,
        Partner,
        ProductKind,
        Subscription,
        SubscriptionStatus,
    )
    from api.domain.profiles import apply_profile, load_profile

    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    profile = Path(__file__).parents[2] / "api/demo/data/partners/northwind.yml"
    try:
        with Session(engine) as session:
            apply_profile(session, load_profile(profile))
            partner = session.scalars(select(Partner)).one()
            contoso = Customer(
                partner_id=partner.id,
                name="Contoso Ltd",
                domain="contoso.com",
                tenant_id=CONTOSO,
                billing_email="billing@contoso.com",
                country="US",
                currency="USD",
            )
            session.add(contoso)
            session.flush()
            for sub_id, product in (
                ("5657d4b0-6541-5261-a546-f7fe29541f70", "Microsoft 365 E3"),
                (TEAMS_PHONE, "Microsoft Teams Phone Standard"),
            ):
                session.add(
                    Subscription(
                        id=sub_id,
                        customer_id=contoso.id,
                        product_name=product,
                        sku="X",
                        product_kind=ProductKind.LICENSE,
                        commerce=Commerce.NEW,
                        seats=1,
                        unit_price=Decimal("1"),
                        currency="USD",
                        term="P1M",
                        billing_frequency=BillingFrequency.MONTHLY,
                        status=SubscriptionStatus.ACTIVE,
                        order_date=date(2026, 1, 1),
                    )
                )
            session.commit()

            first = import_invoices(session, SAMPLE, partner_slug="northwind")
            session.commit()
            assert (first.created, first.lines_written) == (2, 4)
            again = import_invoices(session, SAMPLE, partner_slug="northwind")
            session.commit()
            assert (again.unchanged, again.lines_written) == (2, 0)
            rows = sample_rows()
            rows[0]["tax"] = "171.00"
            changed = import_invoices(
                session, write_csv(tmp_path / "c.csv", rows), partner_slug="northwind"
            )
            session.commit()
            assert (changed.updated, changed.unchanged) == (1, 1)
            assert invoice(session, "G000090001").tax_total == Decimal("228.45")
            note = invoice(session, "G000090002")
            assert note.amends_of is not None and note.amends_of.number == "G000090001"
    finally:
        engine.dispose()
