"""The demo is data: api/demo/data/ read, checked, and seeded through the same code
as `csp-desk partner apply`; mistakes in the files are `file:line: problem`."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo.scenario import DATA_DIR, load_scenario
from api.demo.seed import DemoSummary, dated_for, seed_demo
from api.domain.datafiles import DataFileError
from api.domain.models import (
    BillingFrequency,
    ChargeType,
    InvoiceLine,
    Partner,
    SupportProgram,
)
from api.domain.profiles import apply_profile, export_profile, load_profile
from tests.conftest import DEMO_ANCHOR

PRORATED = {ChargeType.ADD_QUANTITY, ChargeType.REMOVE_QUANTITY, ChargeType.CANCEL}


# --------------------------------------------------------------------------- partners


def test_the_demo_partners_are_their_profile_files(seeded_session: Session) -> None:
    scenario = load_scenario()
    assert list(scenario.partners) == ["northwind", "fabrikam", "litware"]
    ids = {}
    for slug in scenario.partners:
        path = DATA_DIR / "partners" / f"{slug}.yml"
        partner = seeded_session.scalars(
            select(Partner).where(Partner.slug == slug)
        ).one()
        ids[slug] = partner.id
        # The files are written for the test anchor: seeded as they are.
        assert scenario.manifest.profiles_dated_for == DEMO_ANCHOR
        assert export_profile(partner) == load_profile(path)
        assert apply_profile(seeded_session, load_profile(path)).unchanged
    assert ids == {"northwind": 1, "fabrikam": 2, "litware": 3}  # demo.yml's order


def test_current_entitlements_move_with_the_anchor_and_history_stays() -> None:
    profiles = load_scenario().partners
    written_for = date(2026, 11, 15)

    def spans(slug: str, anchor: date) -> dict[SupportProgram, tuple[date, object]]:
        moved = dated_for(profiles[slug], written_for, anchor)
        return {e.program: (e.start, e.end) for e in moved.entitlements}

    assert spans("northwind", written_for) == {
        SupportProgram.PREMIER: (date(2026, 1, 1), date(2026, 12, 31))
    }
    assert spans("northwind", date(2027, 2, 20)) == {
        SupportProgram.PREMIER: (date(2026, 4, 1), date(2027, 3, 31))
    }
    # the last day of a month stays the last day of a month
    assert spans("northwind", date(2027, 3, 2)) == {
        SupportProgram.PREMIER: (date(2026, 5, 1), date(2027, 4, 30))
    }
    fabrikam = spans("fabrikam", date(2026, 1, 10))
    assert fabrikam[SupportProgram.ADVANCED] == (date(2025, 6, 1), date(2026, 5, 31))
    assert fabrikam[SupportProgram.PARTNER_CLOUD] == (date(2024, 3, 1), None)
    assert fabrikam[SupportProgram.SIGNATURE_CLOUD] == (
        date(2019, 7, 1),
        date(2022, 9, 30),
    )


# --------------------------------------------------------------------------- the seed


def test_the_demo_at_the_test_anchor(seeded_db: DemoSummary) -> None:
    """The counts the data files give at DEMO_ANCHOR (docs/demo-data.md)."""
    assert seeded_db.describe() == (
        "anchor 2026-11-15: 3 partners, 15 staff, 10 customers, 20 subscriptions, "
        "126 invoices, 1 credit note, 285 invoice lines, 120 payments; "
        "24 Microsoft invoices to the partners"
    )
    assert seeded_db.support_entitlements == 4
    assert len(seeded_db.cases) == 16
    assert seeded_db.case("seat_increase").detail == (
        "5 Microsoft 365 E3 seats added in July 2026: an add_quantity line prorated "
        "to the end of the monthly cycle"
    )
    assert seeded_db.case("overdue_invoice").detail.startswith(
        "Due 2026-10-01, nothing paid, 45 days overdue on the anchor"
    )


def test_prorated_lines_carry_their_days(seeded_session: Session) -> None:
    lines = seeded_session.scalars(select(InvoiceLine)).all()
    prorated = [line for line in lines if line.charge_type in PRORATED]
    assert len(prorated) == 5
    for line in prorated:
        assert line.prorated_days == (line.charge_end - line.charge_start).days + 1
        assert line.cycle_days is not None and line.prorated_days <= line.cycle_days
    assert {line.cycle_days for line in prorated} >= {31, 365}
    assert all(
        line.prorated_days is None and line.cycle_days is None
        for line in lines
        if line.charge_type not in PRORATED
    )
    assert {line.billing_cycle for line in lines} == {
        BillingFrequency.MONTHLY,
        BillingFrequency.ANNUAL,
        BillingFrequency.ONE_TIME,
    }


# --------------------------------------------------------------------------- mistakes


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A copy of api/demo/data to break."""
    return Path(shutil.copytree(DATA_DIR, tmp_path / "data"))


def edit(path: Path, old: str, new: str) -> int:
    """Replace the one `old` in `path` by `new`; the line it was on."""
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1


def problems(folder: Path) -> list[str]:
    with pytest.raises(DataFileError) as caught:
        load_scenario(folder)
    return [str(problem) for problem in caught.value.problems]


def test_a_product_not_in_the_catalogue(data: Path) -> None:
    customers = data / "customers.yml"
    line = edit(
        customers,
        "      - product: m365-e3\n        seats: 40",
        "      - product: m365-e4\n        seats: 40",
    )
    found = problems(data)
    assert found[0] == (
        f"{customers}:{line}: customers[0].subscriptions[0].product: 'm365-e4' is "
        "not in catalogue.yml"
    )
    # and the cases that name the subscription, further down
    assert all("has no 'm365-e3' subscription" in problem for problem in found[1:])


def test_a_date_given_two_ways(data: Path) -> None:
    customers = data / "customers.yml"
    line = edit(
        customers,
        "ordered: {month: -20, day: 3}",
        "ordered: {month: -20, day: 3, days_ago: 2}",
    )
    assert problems(data) == [
        f"{customers}:{line}: customers[0].subscriptions[1].ordered: give either "
        "{month: N, day: D} or {days_ago: N}"
    ]


def test_a_detail_naming_an_unknown_field(data: Path) -> None:
    customers = data / "customers.yml"
    line = edit(
        customers,
        "detail: Relecloud Backup, 12 users",
        "detail: Relecloud Backup for {invoice.customer}, 12 users",
    )
    (found,) = problems(data)
    assert found.startswith(
        f"{customers}:{line}: customers[3].cases.marketplace_saas.detail: "
        "{invoice.customer} is not known; use invoice."
    )


def test_an_unknown_field_in_the_catalogue_and_a_partner_without_a_file(
    data: Path,
) -> None:
    catalogue, manifest = data / "catalogue.yml", data / "demo.yml"
    line = edit(
        catalogue,
        "    sku: CFQ7TTC0LFLZ:0002\n",
        "    sku: CFQ7TTC0LFLZ:0002\n    colour: red\n",
    )
    assert problems(data) == [
        f"{catalogue}:{line + 1}: products.m365-e5.colour: unknown field; the "
        "fields here are name, sku, kind, commerce, term, billing, prices, meters"
    ]
    edit(catalogue, "    colour: red\n", "")
    line = edit(
        manifest,
        "partners: [northwind, fabrikam, litware]",
        "partners: [northwind, fabrikam, litware, contoso]",
    )
    assert problems(data) == [
        f"{manifest}:{line}: partners[3]: no file {data / 'partners' / 'contoso.yml'}"
    ]


def test_a_wrong_partner_profile_stops_the_demo(data: Path) -> None:
    profile = data / "partners" / "litware.yml"
    line = edit(profile, "role: helpdesk_agent", "role: helpdesk")
    (found,) = problems(data)
    assert found.startswith(
        f"{profile}:{line}: staff[2].role: 'helpdesk' is not one of"
    )


def test_a_case_whose_invoice_the_billing_lacks(
    data: Path, db_session: Session
) -> None:
    customers = data / "customers.yml"
    edit(
        customers,
        "subscription: exchange-online-plan-1-p1m\n        invoice: {month: -6}",
        "subscription: exchange-online-plan-1-p1m\n        invoice: {month: -40}",
    )
    line = next(
        number
        for number, text in enumerate(customers.read_text().splitlines(), start=1)
        if "invoice: {month: -40}" in text
    )
    with pytest.raises(DataFileError) as caught:
        seed_demo(db_session, anchor=DEMO_ANCHOR, scenario=load_scenario(data))
    assert str(caught.value) == (
        f"{customers}:{line}: customers[9].cases.cancelled_subscription.invoice: "
        "cohowinery.com has no such invoice for anchor 2026-11-15"
    )
