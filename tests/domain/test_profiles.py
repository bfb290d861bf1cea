"""Partner profiles: applied idempotently, exported back, and refused with
`file:line: problem` when wrong."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema_rs
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.db import get_sessionmaker
from api.domain.models import Partner, PartnerRole, PartnerUser, SupportProgram
from api.domain.profiles import (
    SCHEMA_PATH,
    PartnerProfile,
    ProfileConflict,
    ProfileError,
    apply_profile,
    dump_profile,
    export_profile,
    load_profile,
    parse_profile,
    profile_json_schema,
)

PARTNERS_DIR = Path(__file__).parents[2] / "api" / "demo" / "data" / "partners"
PROFILE_FILES = sorted(PARTNERS_DIR.glob("*.yml"))
NORTHWIND = PARTNERS_DIR / "northwind.yml"


def rows(session: Session) -> list[tuple[object, ...]]:
    """Every column of every partner, entitlement and staff row."""
    found: list[tuple[object, ...]] = []
    for partner in session.scalars(select(Partner).order_by(Partner.id)):
        found.append(tuple(getattr(partner, c.key) for c in Partner.__table__.columns))
        found += [
            (e.id, e.program, e.contract_id, e.valid_from, e.valid_to)
            for e in partner.entitlements
        ]
        found += [
            tuple(getattr(u, c.key) for c in PartnerUser.__table__.columns)
            for u in partner.users
        ]
    return found


def partner(session: Session, slug: str) -> Partner:
    return session.scalars(select(Partner).where(Partner.slug == slug)).one()


# --------------------------------------------------------------------------- applying


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_applying_a_demo_profile_twice_changes_nothing(
    path: Path, database_url: str
) -> None:
    profile = load_profile(path)
    with get_sessionmaker()() as session:
        first = apply_profile(session, profile)
        session.commit()
        assert first.created and first.staff_added == [m.email for m in profile.staff]
        before = rows(session)
    with get_sessionmaker()() as session:  # read back from the database
        again = apply_profile(session, load_profile(path))
        assert again.unchanged, again.describe()
        assert not session.dirty and not session.new and not session.deleted
        session.commit()
        assert rows(session) == before
        assert again.describe() == f"{profile.slug} unchanged"


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_an_exported_profile_is_the_applied_file(
    path: Path, db_session: Session
) -> None:
    profile = load_profile(path)
    apply_profile(db_session, profile)
    db_session.commit()
    exported = export_profile(partner(db_session, profile.slug))
    assert exported == profile
    text = dump_profile(exported)
    assert parse_profile(text) == profile
    assert apply_profile(db_session, parse_profile(text)).unchanged


def test_the_profile_fills_the_partner_and_its_staff(db_session: Session) -> None:
    for path in PROFILE_FILES:
        apply_profile(db_session, load_profile(path))
    fabrikam = partner(db_session, "fabrikam")
    assert fabrikam.timezone == "Europe/London"
    assert fabrikam.support_hours.startswith("Monday to Friday, 08:00-18:00 UK time")
    assert fabrikam.support_schedule is not None
    assert fabrikam.support_schedule["weekly"] == [
        {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "opens": "08:00",
            "closes": "18:00",
        }
    ]
    assert {"date": "2026-12-25", "name": "Christmas Day"} in fabrikam.support_schedule[
        "holidays"
    ]
    assert fabrikam.accepted_currencies == ["GBP"]
    assert fabrikam.partner_center_secret_env == "FABRIKAM_PARTNER_CENTER_CLIENT_SECRET"
    assert fabrikam.invoice_number_pattern == r"[DG]\d{9}"
    assert {e.program for e in fabrikam.entitlements} == {
        SupportProgram.ADVANCED,
        SupportProgram.PARTNER_CLOUD,
        SupportProgram.SIGNATURE_CLOUD,
    }
    litware = partner(db_session, "litware")
    assert litware.entitlements == [] and litware.partner_center_tenant_id is None
    joni = db_session.scalars(
        select(PartnerUser).where(PartnerUser.email == "joni.sherman@litwareinc.com")
    ).one()
    assert joni.active is False and joni.role is PartnerRole.SALES_AGENT


def test_changes_are_reported_and_staff_left_out_are_made_inactive(
    db_session: Session,
) -> None:
    profile = load_profile(NORTHWIND)
    apply_profile(db_session, profile)
    patti = profile.staff[-1]
    hours = profile.support.hours.model_copy(update={"text": "Weekdays 8 to 6"})
    support = profile.support.model_copy(update={"hours": hours})
    edited = profile.model_copy(
        update={"support": support, "staff": profile.staff[:-1], "entitlements": []}
    )
    report = apply_profile(db_session, edited)
    assert report.changed == ["support.hours.text", "entitlements"]
    assert report.staff_deactivated == [patti.email]
    user = db_session.scalars(
        select(PartnerUser).where(PartnerUser.email == patti.email)
    ).one()
    assert user.active is False  # kept, not deleted
    northwind = partner(db_session, "northwind")
    assert northwind.support_hours == "Weekdays 8 to 6"
    assert northwind.entitlements == []
    assert apply_profile(db_session, edited).unchanged  # already inactive

    back = apply_profile(db_session, profile)
    assert back.staff_updated == [patti.email] and user.active is True
    assert len(northwind.users) == len(profile.staff)


def test_a_profile_cannot_take_what_another_partner_has(db_session: Session) -> None:
    apply_profile(db_session, load_profile(NORTHWIND))
    copy = load_profile(NORTHWIND).model_copy(update={"slug": "northwind-2"})
    with pytest.raises(ProfileConflict, match="mpn_id 4810275 already belongs"):
        apply_profile(db_session, copy)
    staff = load_profile(NORTHWIND).staff[:1]
    other = load_profile(PARTNERS_DIR / "litware.yml").model_copy(
        update={"staff": staff}
    )
    with pytest.raises(ProfileConflict, match=r"megan\.bowen@northwindtraders\.com"):
        apply_profile(db_session, other)


# --------------------------------------------------------------------------- problems


def broken(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """northwind.yml with `old` replaced by `new`; the file and the changed line."""
    text = NORTHWIND.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "northwind.yml"
    path.write_text(text.replace(old, new))
    line = text[: text.index(old)].count("\n") + 1
    return path, line


def problems(path: Path) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    return [str(problem) for problem in caught.value.problems]


def test_an_inlined_secret_is_refused_and_not_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path, line = broken(
        tmp_path,
        "  client_secret_env: NORTHWIND_PARTNER_CENTER_CLIENT_SECRET",
        '  client_secret: "Xy8Q~s3cr3t.value"',
    )
    found = problems(path)
    assert (
        f"northwind.yml:{line}: partner_center.client_secret: secrets are never "
        "written in a profile: keep the value in an environment variable and name "
        "the variable (partner_center.client_secret_env)"
    ) in found
    assert (
        f"northwind.yml:{line - 3}: partner_center.client_secret_env: required field is missing"
        in found
    )
    assert not any("s3cr3t" in problem for problem in found)


def test_a_secret_in_place_of_its_variable_name_is_refused(tmp_path: Path) -> None:
    path, line = broken(
        tmp_path,
        "client_secret_env: NORTHWIND_PARTNER_CENTER_CLIENT_SECRET",
        "client_secret_env: Xy8Q~s3cr3t.value",
    )
    (found,) = problems(path)
    assert found.startswith(f"{path}:{line}: partner_center.client_secret_env: ")
    assert "s3cr3t" not in found


def line_with(path: Path, text: str) -> int:
    """The number of the one line of `path` that holds `text`."""
    (number,) = [
        number
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if text in line
    ]
    return number


# (what to change, into what, the line the problem is reported at, the problem)
WRONG_FIELDS = {
    "unknown field": (
        "  terms_days: 30",
        "  terms_days: 30\n  colour: blue",
        "colour: blue",
        "payments.colour: unknown field; the fields here are terms_days, methods, "
        "instructions, accepted_currencies",
    ),
    "bad time zone": (
        "timezone: America/Los_Angeles",
        "timezone: Mars/Olympus_Mons",
        "Mars/Olympus_Mons",
        "support.hours.timezone: 'Mars/Olympus_Mons' is not an IANA time zone "
        "(e.g. Europe/London, America/New_York, UTC)",
    ),
    "bad role": (
        "role: billing_admin",
        "role: billing_manager",
        "billing_manager",
        "staff[3].role: 'billing_manager' is not one of 'global_admin', "
        "'user_management_admin', 'helpdesk_agent', 'billing_admin', "
        "'sales_agent' or 'admin_agent'",
    ),
    # A problem between fields is reported where they are held together.
    "closing before opening": (
        '        closes: "19:00"',
        '        closes: "06:00"',
        "- days: [mon",
        "support.hours.weekly[0]: closes (06:00) must be after opens (07:00)",
    ),
    "numbering example": (
        "  example: G000024101",
        "  example: INV-24101",
        "invoice_numbering:",
        "invoice_numbering: example 'INV-24101' does not match the pattern",
    ),
    "reminder after suspension": (
        "  reminder_after_days: 7",
        "  reminder_after_days: 30",
        "collections:",
        "collections: reminder_after_days must be less than "
        "suspend_after_days_overdue (customers are reminded before they are "
        "suspended)",
    ),
    "duplicate staff": (
        "    email: alex.wilber@northwindtraders.com",
        "    email: Megan.Bowen@northwindtraders.com",
        "Megan.Bowen@",
        "staff[3].email: the same as staff[0].email",
    ),
    "currency not accepted": (
        "accepted_currencies: [USD]",
        "accepted_currencies: [EUR]",
        "accepted_currencies: [EUR]",
        "payments.accepted_currencies: the billing currency USD is not accepted",
    ),
}


@pytest.mark.parametrize("case", WRONG_FIELDS)
def test_a_wrong_field_is_reported_at_its_line(tmp_path: Path, case: str) -> None:
    old, new, at, message = WRONG_FIELDS[case]
    path, _ = broken(tmp_path, old, new)
    assert problems(path) == [f"{path}:{line_with(path, at)}: {message}"]


def test_a_misspelt_field_is_unknown_and_the_right_one_missing(tmp_path: Path) -> None:
    path, line = broken(
        tmp_path,
        "    timezone: America/Los_Angeles",
        "    time_zone: America/Los_Angeles",
    )
    assert problems(path) == [
        f"{path}:{line_with(path, 'hours:')}: support.hours.timezone: required field "
        "is missing",
        f"{path}:{line}: support.hours.time_zone: unknown field (did you mean "
        "'timezone'?)",
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  methods: [ACH bank transfer, Credit card, Check]",
            "  methods: [ACH bank transfer, Credit card, Check]\n   extra: indented",
            "YAML: expected <block end>, but found '<block mapping start>' (while "
            "parsing a block mapping started on line 39)",
        ),
        (
            "  terms_days: 30",
            "  terms_days: 30\n  terms_days: 45",
            'YAML: found duplicate key "terms_days"',
        ),
        (
            "  terms_days: 30",
            "  terms_days: 30\n\tmethods: [Check]",
            "YAML: found character '\\t' that cannot start any token",
        ),
    ],
    ids=["bad indentation", "duplicate key", "tab"],
)
def test_a_yaml_syntax_error_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path, line = broken(tmp_path, old, new)
    assert problems(path) == [f"{path}:{line + 1}: {message}"]  # the added line


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    assert problems(tmp_path / "missing.yml") == [
        f"{tmp_path / 'missing.yml'}: cannot read: No such file or directory"
    ]
    (tmp_path / "list.yml").write_text("- slug: x\n")
    assert problems(tmp_path / "list.yml") == [
        f"{tmp_path / 'list.yml'}:1: expected a mapping of fields (name: value), "
        "not a list"
    ]


# --------------------------------------------------------------------------- hours


def test_support_hours_know_when_the_desk_is_open() -> None:
    hours = load_profile(PARTNERS_DIR / "fabrikam.yml").support.hours

    def at(*args: int) -> datetime:
        return datetime(*args, tzinfo=timezone.utc)

    assert hours.is_open(at(2026, 12, 7, 10, 0))  # Monday, 10:00 in London (GMT)
    assert not hours.is_open(at(2026, 12, 7, 18, 0))  # closes at 18:00
    assert hours.is_open(at(2026, 7, 6, 7, 30))  # 08:30 British Summer Time
    assert not hours.is_open(at(2026, 7, 6, 6, 30))  # 07:30 BST, not yet
    assert not hours.is_open(at(2026, 12, 5, 10, 0))  # Saturday
    assert not hours.is_open(at(2026, 12, 25, 10, 0))  # Christmas Day
    assert not hours.is_open(at(2026, 12, 28, 10, 0))  # Boxing Day, substitute


# --------------------------------------------------------------------------- schema


def test_the_published_schema_is_the_generated_one() -> None:
    published = json.loads(SCHEMA_PATH.read_text())
    assert published == profile_json_schema(), (
        "regenerate it: csp-desk partner schema -o docs/partner-profile.schema.json"
    )


def as_json(data: object) -> object:
    """YAML data as JSON would hold it (dates as text)."""
    return json.loads(json.dumps(data, default=str))


def test_the_published_schema_takes_the_demo_profiles_and_refuses_mistakes(
    tmp_path: Path,
) -> None:
    from api.domain.datafiles import read_yaml

    validator = jsonschema_rs.validator_for(json.loads(SCHEMA_PATH.read_text()))
    for path in PROFILE_FILES:
        assert validator.is_valid(as_json(read_yaml(path))), path.name
    for old, new in (
        ("  terms_days: 30", "  terms_days: 30\n  colour: blue"),
        ("role: billing_admin", "role: billing_manager"),
        (
            "client_secret_env: NORTHWIND_PARTNER_CENTER_CLIENT_SECRET",
            "client_secret: Xy8Q~s3cr3t.value",
        ),
    ):
        path, _ = broken(tmp_path, old, new)
        assert not validator.is_valid(as_json(read_yaml(path))), new


def test_every_field_of_the_profile_is_described() -> None:
    """The schema is what editors show: every field says what it is for."""
    schema = profile_json_schema()
    for name, definition in schema["$defs"].items():
        if definition.get("type") != "object":
            continue
        for field, spec in definition["properties"].items():
            if "$ref" in spec or any("$ref" in s for s in spec.get("anyOf", [])):
                continue  # a section, described where it is defined
            assert spec.get("description"), f"{name}.{field}"
    assert isinstance(PartnerProfile.model_fields["slug"].description, str)
