"""`csp-desk partner`: apply a profile file, export it back, print the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.domain.db import get_sessionmaker
from api.domain.models import BillingModel, Partner
from api.domain.profiles import SCHEMA_PATH, load_profile, parse_profile
from api.ops.cli import main

PARTNERS_DIR = Path(__file__).parents[2] / "api" / "demo" / "data" / "partners"
NORTHWIND = PARTNERS_DIR / "northwind.yml"


def partners() -> int:
    with get_sessionmaker()() as session:
        return session.scalar(select(func.count()).select_from(Partner)) or 0


def test_apply_then_apply_again_then_export(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["partner", "apply", str(NORTHWIND), "--dry-run"]) == 0
    assert "dry run, nothing written): northwind created" in capsys.readouterr().out
    assert partners() == 0

    assert main(["partner", "apply", str(NORTHWIND)]) == 0
    assert capsys.readouterr().out == "partner apply: northwind created with 6 staff\n"
    assert main(["partner", "apply", str(NORTHWIND)]) == 0
    assert capsys.readouterr().out == "partner apply: northwind unchanged\n"

    assert main(["partner", "export", "northwind"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert parse_profile(captured.out) == load_profile(NORTHWIND)

    exported = tmp_path / "northwind.yml"
    assert main(["partner", "export", "northwind", "-o", str(exported)]) == 0
    assert f"wrote northwind to {exported}" in capsys.readouterr().err
    text = exported.read_text().replace(
        "reminder_after_days: 7", "reminder_after_days: 10"
    )
    exported.write_text(text)
    assert main(["partner", "apply", str(exported)]) == 0
    assert capsys.readouterr().out == (
        "partner apply: northwind updated: collections.reminder_after_days\n"
    )


def test_a_wrong_file_is_listed_line_by_line(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = NORTHWIND.read_text()
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(
        text.replace("role: sales_agent", "role: reseller").replace(
            "timezone: America/Los_Angeles", "timezone: Pacific Time"
        )
    )
    lines = wrong.read_text().splitlines()
    role = lines.index("    role: reseller") + 1
    zone = lines.index("    timezone: Pacific Time") + 1
    assert main(["partner", "apply", str(wrong)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    errors = captured.err.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"{wrong}:{zone}: support.hours.timezone: ")
    assert errors[1].startswith(f"{wrong}:{role}: staff[4].role: 'reseller' is not")
    assert partners() == 0


def test_a_conflict_and_an_unknown_partner_are_one_line_errors(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["partner", "apply", str(NORTHWIND)]) == 0
    twin = tmp_path / "twin.yml"
    twin.write_text(NORTHWIND.read_text().replace("slug: northwind", "slug: twin"))
    capsys.readouterr()
    assert main(["partner", "apply", str(twin)]) == 1
    assert capsys.readouterr().err == (
        f"error: {twin}: mpn_id 4810275 already belongs to partner 'northwind'\n"
    )
    assert main(["partner", "export", "nobody"]) == 1
    assert capsys.readouterr().err == (
        "error: no partner with slug 'nobody' (partners: northwind)\n"
    )


def test_export_says_what_an_old_partner_lacks(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A partner made before profiles existed has no structured support hours."""
    with get_sessionmaker()() as session:
        session.add(
            Partner(
                slug="legacy",
                name="Legacy Partner",
                mpn_id="1234567",
                billing_model=BillingModel.DIRECT,
                country="US",
                currency="USD",
                support_offer="We help.",
                support_hours="Weekdays 9-5",
                support_contact_method="Email",
                support_email="help@legacy.example",
                support_pricing="Free.",
                collections_policy="We remind you.",
                reminder_after_days=5,
                suspend_after_days_overdue=30,
            )
        )
        session.commit()
    assert main(["partner", "export", "legacy"]) == 0
    captured = capsys.readouterr()
    assert "weekly: []" in captured.out
    warnings = captured.err.splitlines()
    weekly = captured.out.splitlines().index("    weekly: []") + 1
    assert f"warning: <stdout>:{weekly}: support.hours.weekly: " in warnings[0]
    assert "accepted_currencies" in captured.err
    assert warnings[-1] == "warning: fill these in before `csp-desk partner apply`"


def test_schema_prints_the_published_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["partner", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SCHEMA_PATH.read_text())
