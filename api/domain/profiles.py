"""Partner profiles: one YAML file per partner, applied to the database and exported
back (`csp-desk partner apply FILE.yml`, `csp-desk partner export SLUG`).

    profile = load_profile("northwind.yml")        # ProfileError: file:line: problem
    report = apply_profile(session, profile)       # create or update, idempotent
    text = dump_profile(export_profile(partner))   # the same file, from the rows

A profile holds everything the bot tells a partner's customers and everything the
desk needs to act for the partner: the support offer, hours and contact, payment
terms, the collections policy and suspension timeline, the Microsoft support
entitlements, the staff with their Partner Center roles and channel identities, the
Partner Center app registration and the partner's invoice numbering. Every field is
described in docs/onboarding.md; `PartnerProfile` is the one definition, and
docs/partner-profile.schema.json is generated from it (`csp-desk partner schema`).

Secrets never live in a profile: the app registration names the environment
variable that holds its client secret, and a file that writes a secret inline is
refused. Applying a file twice changes nothing; staff no longer in the file are
marked inactive (their tickets keep pointing at them), never deleted.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.domain.datafiles import (
    DataFileError,
    Location,
    Problem,
    display_name,
    parse_yaml,
    problem_at,
    problems_from,
    read_yaml,
)
from api.domain.models import (
    BillingModel,
    Partner,
    PartnerRole,
    PartnerUser,
    SupportEntitlement,
    SupportProgram,
)
from api.domain.services.webhook_signing import webhook_url_problem
from api.domain.services.webhooks import ALL_EVENTS, DEFAULT_ENDPOINT, EventType

SCHEMA_PATH = (
    Path(__file__).resolve().parents[2] / "docs" / "partner-profile.schema.json"
)

# Keys that would hold a secret. A profile names environment variables instead
# (`client_secret_env`), so any of these, anywhere in a file, is refused.
SECRET_KEY = re.compile(
    r"(?i)(?:^|_)(?:secret|client_secret|password|passwd|api_?key|private_key|token)$"
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=200,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
]
Guid = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    ),
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
OpeningTime = Annotated[str, StringConstraints(pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$")]
ClosingTime = Annotated[
    str, StringConstraints(pattern=r"^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$")
]


class _Section(BaseModel):
    """A part of a profile: unknown fields are mistakes, not extensions."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- support


class OpeningHours(_Section):
    """Days of the week on which the desk opens and closes at the same times."""

    days: list[Weekday] = Field(
        min_length=1, description="Days of the week: mon, tue, wed, thu, fri, sat, sun."
    )
    opens: OpeningTime = Field(description='Opening time, "HH:MM" (24-hour clock).')
    closes: ClosingTime = Field(
        description='Closing time, "HH:MM"; "24:00" for midnight at the end of the day.'
    )

    @field_validator("days")
    @classmethod
    def _distinct_days(cls, days: list[Weekday]) -> list[Weekday]:
        if len(set(days)) != len(days):
            raise ValueError("a day is listed twice")
        return days

    @model_validator(mode="after")
    def _closes_after_opening(self) -> OpeningHours:
        if self.closes <= self.opens:
            raise ValueError(
                f"closes ({self.closes}) must be after opens ({self.opens})"
            )
        return self


class Holiday(_Section):
    """A day the desk is closed although the weekly hours say it is open."""

    date: dt.date = Field(description="The day, YYYY-MM-DD.")
    name: ShortText = Field(description="What the day is, e.g. Christmas Day.")


class SupportHours(_Section):
    """When the partner's desk answers, as words (quoted by the bot) and as data."""

    text: Text = Field(
        description="The hours in words, as the bot quotes them to customers, "
        "including anything the weekly times cannot say (24x7 for Severity A, ...)."
    )
    timezone: str = Field(
        description="IANA time zone of the times below, e.g. Europe/London; also "
        "the zone of business-hour response targets."
    )
    weekly: list[OpeningHours] = Field(
        min_length=1, description="Regular opening hours, by days of the week."
    )
    holidays: list[Holiday] = Field(
        default_factory=list, description="Days closed, e.g. public holidays."
    )

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{name!r} is not an IANA time zone (e.g. Europe/London, "
                "America/New_York, UTC)"
            ) from None
        return name

    @model_validator(mode="after")
    def _consistent(self) -> SupportHours:
        for day in WEEKDAYS:
            spans = sorted((h.opens, h.closes) for h in self.weekly if day in h.days)
            for (_, closes), (opens, _) in itertools.pairwise(spans):
                if opens < closes:
                    raise ValueError(f"opening hours on {day} overlap")
        days = [holiday.date for holiday in self.holidays]
        if len(set(days)) != len(days):
            raise ValueError("a holiday date is listed twice")
        return self

    def is_open(self, moment: dt.datetime) -> bool:
        """Whether the desk is open at `moment` (a timezone-aware datetime)."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        if any(holiday.date == local.date() for holiday in self.holidays):
            return False
        day = WEEKDAYS[local.weekday()]
        now = f"{local:%H:%M}"
        return any(
            day in hours.days and hours.opens <= now < hours.closes
            for hours in self.weekly
        )


class Contact(_Section):
    """How customers reach the partner's desk."""

    email: Email = Field(description="Support e-mail address.")
    phone: Optional[ShortText] = Field(
        default=None, description="Support phone number, with its country code."
    )
    method: ShortText = Field(
        description="How to contact support, in words (chat, e-mail, phone, ...)."
    )


class Support(_Section):
    """What the partner tells its customers about support (docs/domain.md)."""

    offer: Text = Field(description="The support the partner gives, in words.")
    hours: SupportHours
    contact: Contact
    pricing: Text = Field(description="What support costs, in words.")


# --------------------------------------------------------------------------- money


class Payments(_Section):
    """How and when customers pay the partner."""

    terms_days: int = Field(
        ge=0, le=365, description="Days from the invoice date to the due date."
    )
    methods: list[ShortText] = Field(
        min_length=1, description="Ways to pay, e.g. ACH bank transfer, Credit card."
    )
    instructions: str = Field(
        default="", description="How to pay by each method (bank details, portal)."
    )
    accepted_currencies: list[Currency] = Field(
        min_length=1,
        description="ISO 4217 codes of the currencies accepted; include the "
        "billing currency.",
    )


class Collections(_Section):
    """What happens when an invoice is not paid."""

    policy: Text = Field(
        description="The collections policy in words: reminders, calls, when "
        "access is affected, and that suspended subscriptions are still billed."
    )
    reminder_after_days: int = Field(
        ge=0, description="Days after the due date the first reminder is sent."
    )
    suspend_after_days_overdue: int = Field(
        ge=1, description="Days overdue after which subscriptions are suspended."
    )

    @model_validator(mode="after")
    def _reminder_first(self) -> Collections:
        if self.reminder_after_days >= self.suspend_after_days_overdue:
            raise ValueError(
                "reminder_after_days must be less than suspend_after_days_overdue "
                "(customers are reminded before they are suspended)"
            )
        return self


# --------------------------------------------------------------------------- people


class Entitlement(_Section):
    """A Microsoft technical support program the partner holds."""

    program: SupportProgram = Field(description="The support program.")
    contract_id: Optional[ShortText] = Field(
        default=None, description="The contract or agreement number, if any."
    )
    start: dt.date = Field(description="First day covered, YYYY-MM-DD.")
    end: Optional[dt.date] = Field(
        default=None, description="Last day covered; leave out when open-ended."
    )
    incidents_remaining: Optional[int] = Field(
        default=None,
        ge=0,
        description="Support incidents left, for programs that count them.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Entitlement:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class StaffMember(_Section):
    """A member of the partner's staff who talks to the bot from Slack or Teams."""

    name: ShortText = Field(description="Full name.")
    email: Email = Field(description="Work e-mail address; identifies the person.")
    role: PartnerRole = Field(
        description="Partner Center role; decides what they may see."
    )
    slack_user_id: Optional[str] = Field(
        default=None,
        pattern=r"^[UW][A-Z0-9]{2,39}$",
        description="Slack member id (U... or W...), if they use Slack.",
    )
    entra_object_id: Optional[Guid] = Field(
        default=None, description="Microsoft Entra object id, if they use Teams."
    )
    active: bool = Field(
        default=True,
        description="false for someone who left; staff missing from the file "
        "are made inactive too.",
    )


# --------------------------------------------------------------------------- systems


class PartnerCenterApp(_Section):
    """The partner's Microsoft Entra app registration for the Partner Center API."""

    tenant_id: Guid = Field(description="The partner's own Entra tenant id.")
    client_id: Guid = Field(
        description="The app registration's application (client) id."
    )
    client_secret_env: str = Field(
        pattern=r"^[A-Z_][A-Z0-9_]{0,99}$",
        description="NAME of the environment variable that holds the client "
        "secret (upper case, digits and _); never the secret itself.",
    )


class InvoiceNumbering(_Section):
    """How the partner numbers the invoices it sends its customers."""

    prefix: Annotated[str, StringConstraints(max_length=20)] = Field(
        default="", description="What every number starts with, e.g. NW-."
    )
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Regular expression every invoice number matches in full."
    )
    example: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        description="A real or typical number, checked against the pattern."
    )

    @model_validator(mode="after")
    def _example_fits(self) -> InvoiceNumbering:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern is not a regular expression: {exc}") from None
        if compiled.fullmatch(""):
            raise ValueError("pattern matches an empty number")
        if not compiled.fullmatch(self.example):
            raise ValueError(f"example {self.example!r} does not match the pattern")
        if not self.example.startswith(self.prefix):
            raise ValueError(f"example {self.example!r} does not start with the prefix")
        return self


class Handoff(_Section):
    """Where a conversation handed to a person is announced."""

    slack_channel_id: Optional[str] = Field(
        default=None,
        pattern=r"^[CG][A-Z0-9]{2,39}$",
        description="Slack channel id (C... or G...).",
    )
    teams_channel_id: Optional[str] = Field(
        default=None,
        pattern=r"^19:[A-Za-z0-9_.@-]{3,180}@thread\.(tacv2|skype)$",
        description="Teams channel id (19:...@thread.tacv2) where the Teams bot "
        "posts the notice; staff replies in its thread reach the customer.",
    )


class WebhookEndpoint(_Section):
    """An endpoint of the partner's helpdesk that receives signed webhooks
    (docs/helpdesk-webhooks.md)."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,59}$",
        description="Short name shown in the delivery log, e.g. connectwise "
        "(lower case, digits, - and _; not `default`).",
    )
    url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = (
        Field(
            description="Where the webhooks are POSTed: https:// (plain http only "
            "to this machine, for tests)."
        )
    )
    secret_env: str = Field(
        pattern=r"^[A-Z_][A-Z0-9_]{0,99}$",
        description="NAME of the environment variable that holds the endpoint's "
        "signing secret (whsec_...; `csp-desk webhooks new-secret` makes one); "
        "never the secret itself.",
    )
    events: list[EventType] = Field(
        default_factory=lambda: list(EventType),
        min_length=1,
        description="The events it receives; leave out for all of them.",
    )

    @field_validator("name")
    @classmethod
    def _not_default(cls, name: str) -> str:
        if name == DEFAULT_ENDPOINT:
            raise ValueError(
                f"{DEFAULT_ENDPOINT!r} is the name of WEBHOOK_DEFAULT_URL's endpoint"
            )
        return name

    @field_validator("url")
    @classmethod
    def _good_url(cls, url: str) -> str:
        problem = webhook_url_problem(url)
        if problem:
            raise ValueError(problem)
        return url

    @field_validator("events")
    @classmethod
    def _distinct_events(cls, events: list[EventType]) -> list[EventType]:
        if len(set(events)) != len(events):
            raise ValueError("an event is listed twice")
        return events


# --------------------------------------------------------------------------- profile


class PartnerProfile(_Section):
    """A CSP partner's profile: `csp-desk partner apply FILE.yml` (docs/onboarding.md)."""

    model_config = ConfigDict(
        extra="forbid",
        title="CSP billing desk partner profile",
    )

    slug: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,59}$",
        description="Short stable name (lower case, digits, -); identifies the "
        "partner when the file is applied again.",
    )
    name: ShortText = Field(description="The partner's name, as customers know it.")
    mpn_id: str = Field(
        pattern=r"^[0-9]{1,20}$",
        description="Partner ID (formerly MPN ID) in Partner Center; quote it.",
    )
    billing_model: BillingModel = Field(
        description="direct (tier 1), indirect_provider or indirect_reseller."
    )
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166 country code.")
    currency: Currency = Field(description="ISO 4217 code of the billing currency.")
    support: Support
    payments: Payments
    collections: Collections
    entitlements: list[Entitlement] = Field(
        default_factory=list,
        description="Microsoft technical support programs held; none is a valid answer.",
    )
    staff: list[StaffMember] = Field(default_factory=list)
    partner_center: Optional[PartnerCenterApp] = None
    invoice_numbering: Optional[InvoiceNumbering] = None
    handoff: Handoff = Field(default_factory=Handoff)
    webhooks: list[WebhookEndpoint] = Field(
        default_factory=list,
        description="Endpoints of the partner's helpdesk (ConnectWise, Autotask, "
        "Zendesk, ...) that receive signed webhooks on ticket and hand-off events.",
    )

    def cross_checks(self) -> list[tuple[Location, str]]:
        """Problems between fields: duplicates, a currency not accepted."""
        found: list[tuple[Location, str]] = []
        if self.currency not in self.payments.accepted_currencies:
            found.append(
                (
                    ("payments", "accepted_currencies"),
                    f"the billing currency {self.currency} is not accepted",
                )
            )
        seen: dict[tuple[str, object], int] = {}
        for index, member in enumerate(self.staff):
            for key in ("email", "slack_user_id", "entra_object_id"):
                value = getattr(member, key)
                if value is None:
                    continue
                first = seen.setdefault((key, value), index)
                if first != index:
                    found.append(
                        (("staff", index, key), f"the same as staff[{first}].{key}")
                    )
        programs: dict[tuple[SupportProgram, dt.date], int] = {}
        for index, entitlement in enumerate(self.entitlements):
            first = programs.setdefault((entitlement.program, entitlement.start), index)
            if first != index:
                found.append(
                    (
                        ("entitlements", index),
                        f"entitlements[{first}] has the same program and start",
                    )
                )
        names: dict[str, int] = {}
        for index, endpoint in enumerate(self.webhooks):
            first = names.setdefault(endpoint.name, index)
            if first != index:
                found.append(
                    (("webhooks", index, "name"), f"the same as webhooks[{first}].name")
                )
        return found


# --------------------------------------------------------------------------- loading


class ProfileError(DataFileError):
    """A profile file that cannot be applied; `problems` says where and why."""


def _secret_keys(node: Any, loc: Location = ()) -> Iterator[Location]:
    """The locations of keys that would hold a secret, anywhere in the data."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and SECRET_KEY.search(key):
                yield (*loc, key)
            yield from _secret_keys(value, (*loc, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _secret_keys(item, (*loc, index))


def profile_from_data(data: Any, name: str) -> PartnerProfile:
    """Validate the data of a profile file called `name`.

    Raises:
        ProfileError: Every problem, each as `name:line: problem`.
    """
    secrets = list(_secret_keys(data))
    problems = [
        problem_at(
            data,
            name,
            loc,
            "secrets are never written in a profile: keep the value in an "
            "environment variable and name the variable (partner_center."
            "client_secret_env)",
        )
        for loc in secrets
    ]
    try:
        profile = PartnerProfile.model_validate(data)
    except ValidationError as exc:
        problems += problems_from(exc, data, name, model=PartnerProfile, skip=secrets)
        raise ProfileError(problems) from None
    problems += [
        problem_at(data, name, loc, message) for loc, message in profile.cross_checks()
    ]
    if problems:
        raise ProfileError(problems)
    return profile


def load_profile(path: Union[str, Path]) -> PartnerProfile:
    """The profile in the YAML file at `path`.

    Raises:
        ProfileError: The file cannot be read, is not YAML or is not a valid
            profile; every problem as `file:line: problem`.
    """
    try:
        data = read_yaml(path)
    except DataFileError as exc:
        raise ProfileError(exc.problems) from None
    return profile_from_data(data, display_name(path))


def parse_profile(text: str, name: str = "<profile>") -> PartnerProfile:
    """The profile in YAML `text` (see `load_profile`)."""
    try:
        data = parse_yaml(text, name)
    except DataFileError as exc:
        raise ProfileError(exc.problems) from None
    return profile_from_data(data, name)


def profile_json_schema() -> dict[str, Any]:
    """The JSON Schema of profile files (docs/partner-profile.schema.json), for
    editors and other tools; `PartnerProfile` is what validates a file here."""
    schema = PartnerProfile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **{key: schema.pop(key) for key in ("title", "description") if key in schema},
        **schema,
    }


# --------------------------------------------------------------------------- applying


class ProfileConflict(ValueError):
    """The profile names something another partner already has (one line)."""


@dataclass
class ApplyReport:
    """What applying a profile changed."""

    slug: str
    created: bool = False
    changed: list[str] = field(default_factory=list)  # dotted fields
    staff_added: list[str] = field(default_factory=list)  # e-mails
    staff_updated: list[str] = field(default_factory=list)
    staff_deactivated: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (
            self.created
            or self.changed
            or self.staff_added
            or self.staff_updated
            or self.staff_deactivated
        )

    def describe(self) -> str:
        """One line for the command line."""
        if self.created:
            return f"{self.slug} created with {len(self.staff_added)} staff"
        if self.unchanged:
            return f"{self.slug} unchanged"
        parts = []
        if self.changed:
            parts.append(", ".join(self.changed))
        for what, emails in (
            ("added", self.staff_added),
            ("updated", self.staff_updated),
            ("made inactive", self.staff_deactivated),
        ):
            if emails:
                parts.append(f"staff {what}: {', '.join(emails)}")
        return f"{self.slug} updated: {'; '.join(parts)}"


def _changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the values that differ between two dumps of a profile."""
    if isinstance(before, dict) and isinstance(after, dict):
        paths = []
        for key in dict.fromkeys([*before, *after]):
            path = f"{prefix}.{key}" if prefix else str(key)
            paths += _changed_paths(before.get(key), after.get(key), path)
        return paths
    return [] if before == after else [prefix]


def _conflicts(
    session: Session, profile: PartnerProfile, partner_id: Optional[int]
) -> None:
    """Refuse a profile whose unique values belong to another partner."""
    other = session.scalar(
        select(Partner).where(
            Partner.mpn_id == profile.mpn_id, Partner.slug != profile.slug
        )
    )
    if other is not None:
        raise ProfileConflict(
            f"mpn_id {profile.mpn_id} already belongs to partner {other.slug!r}"
        )
    for member in profile.staff:
        # Profiles keep e-mails and GUIDs in lower case; rows made otherwise may not.
        for column, value, label in (
            (func.lower(PartnerUser.email), member.email, "e-mail"),
            (PartnerUser.slack_user_id, member.slack_user_id, "Slack user id"),
            (
                func.lower(PartnerUser.aad_object_id),
                member.entra_object_id,
                "Entra object id",
            ),
        ):
            if value is None:
                continue
            user = session.scalars(select(PartnerUser).where(column == value)).first()
            if user is not None and user.partner_id != partner_id:
                raise ProfileConflict(
                    f"staff {member.email}: {label} {value} belongs to a member of "
                    f"partner {user.partner.slug!r}"
                )
            if user is not None and user.email.lower() != member.email:
                raise ProfileConflict(
                    f"staff {member.email}: {label} {value} belongs to {user.email}"
                )


def apply_profile(session: Session, profile: PartnerProfile) -> ApplyReport:
    """Create the partner of `profile`, or update it to match; flushed, not committed.

    The partner is found by slug. Entitlements are replaced by those in the file
    (matched by program and start, so unchanged ones keep their rows); staff are
    matched by e-mail, and those no longer in the file are made inactive.

    Raises:
        ProfileConflict: The Partner ID or a staff member's e-mail, Slack id or
            Entra id belongs to another partner.
    """
    partner = session.scalar(select(Partner).where(Partner.slug == profile.slug))
    _conflicts(session, profile, partner.id if partner is not None else None)
    report = ApplyReport(slug=profile.slug, created=partner is None)
    if partner is None:
        partner = Partner(slug=profile.slug)
        session.add(partner)
    else:
        # Staff are reported by person below, the rest by field.
        old = profile_dump(export_profile_data(partner))
        new = profile_dump(profile)
        old.pop("staff", None)
        new.pop("staff", None)
        report.changed = _changed_paths(old, new)

    hours = profile.support.hours
    values: dict[str, Any] = {
        "name": profile.name,
        "mpn_id": profile.mpn_id,
        "billing_model": profile.billing_model,
        "country": profile.country,
        "currency": profile.currency,
        "timezone": hours.timezone,
        "support_offer": profile.support.offer,
        "support_hours": hours.text,
        "support_schedule": {
            "weekly": [h.model_dump() for h in hours.weekly],
            "holidays": [h.model_dump(mode="json") for h in hours.holidays],
        },
        "support_contact_method": profile.support.contact.method,
        "support_email": profile.support.contact.email,
        "support_phone": profile.support.contact.phone,
        "support_pricing": profile.support.pricing,
        "payment_terms_days": profile.payments.terms_days,
        "payment_methods": list(profile.payments.methods),
        "payment_instructions": profile.payments.instructions,
        "accepted_currencies": list(profile.payments.accepted_currencies),
        "collections_policy": profile.collections.policy,
        "reminder_after_days": profile.collections.reminder_after_days,
        "suspend_after_days_overdue": profile.collections.suspend_after_days_overdue,
        "slack_channel_id": profile.handoff.slack_channel_id,
        "webhook_endpoints": [
            endpoint.model_dump(mode="json") for endpoint in profile.webhooks
        ],
        "teams_channel_id": profile.handoff.teams_channel_id,
        "partner_center_tenant_id": None,
        "partner_center_client_id": None,
        "partner_center_secret_env": None,
        "invoice_number_prefix": None,
        "invoice_number_pattern": None,
        "invoice_number_example": None,
    }
    if profile.partner_center is not None:
        values["partner_center_tenant_id"] = profile.partner_center.tenant_id
        values["partner_center_client_id"] = profile.partner_center.client_id
        values["partner_center_secret_env"] = profile.partner_center.client_secret_env
    if profile.invoice_numbering is not None:
        values["invoice_number_prefix"] = profile.invoice_numbering.prefix
        values["invoice_number_pattern"] = profile.invoice_numbering.pattern
        values["invoice_number_example"] = profile.invoice_numbering.example
    for key, value in values.items():
        # Assigning an equal value is no change to SQLAlchemy, but a fresh list or
        # dict for a JSON column is: keep the loaded one when it is equal.
        if getattr(partner, key, None) != value:
            setattr(partner, key, value)

    _apply_entitlements(partner, profile.entitlements)
    _apply_staff(partner, profile.staff, report)
    session.flush()
    return report


def _apply_entitlements(partner: Partner, wanted: Sequence[Entitlement]) -> None:
    existing = {(e.program, e.valid_from): e for e in partner.entitlements}
    rows = []
    for entitlement in wanted:
        row = existing.get((entitlement.program, entitlement.start))
        if row is None:
            row = SupportEntitlement(
                program=entitlement.program, valid_from=entitlement.start
            )
        for key, value in (
            ("contract_id", entitlement.contract_id),
            ("valid_to", entitlement.end),
            ("incidents_remaining", entitlement.incidents_remaining),
        ):
            if getattr(row, key, None) != value:
                setattr(row, key, value)
        rows.append(row)
    if rows != list(partner.entitlements):
        partner.entitlements = rows  # delete-orphan removes the ones left out


def _apply_staff(
    partner: Partner, wanted: Sequence[StaffMember], report: ApplyReport
) -> None:
    by_email = {user.email.lower(): user for user in partner.users}
    listed = set()
    for member in wanted:
        listed.add(member.email)
        user = by_email.get(member.email)
        values = {
            "name": member.name,
            "role": member.role,
            "slack_user_id": member.slack_user_id,
            "aad_object_id": member.entra_object_id,
            "active": member.active,
        }
        if user is None:
            partner.users.append(PartnerUser(email=member.email, **values))
            report.staff_added.append(member.email)
            continue
        changed = False
        for key, value in values.items():
            if getattr(user, key) != value:
                setattr(user, key, value)
                changed = True
        if changed and not report.created:
            report.staff_updated.append(member.email)
    for email, user in by_email.items():
        if email not in listed and user.active:
            user.active = False
            report.staff_deactivated.append(email)


# --------------------------------------------------------------------------- exporting


def export_profile_data(partner: Partner) -> dict[str, Any]:
    """The profile of `partner` as plain data, in the order of the file.

    Partners created before profiles existed may lack what a profile requires
    (structured hours): the data then fails `PartnerProfile` validation, which is
    what tells the operator to fill it in.
    """
    schedule = partner.support_schedule or {}
    data: dict[str, Any] = {
        "slug": partner.slug,
        "name": partner.name,
        "mpn_id": partner.mpn_id,
        "billing_model": partner.billing_model.value,
        "country": partner.country,
        "currency": partner.currency,
        "support": {
            "offer": partner.support_offer,
            "hours": {
                "text": partner.support_hours,
                "timezone": partner.timezone,
                "weekly": list(schedule.get("weekly", [])),
                "holidays": [
                    {**holiday, "date": dt.date.fromisoformat(holiday["date"])}
                    for holiday in schedule.get("holidays", [])
                ],
            },
            "contact": {
                "email": partner.support_email,
                "phone": partner.support_phone,
                "method": partner.support_contact_method,
            },
            "pricing": partner.support_pricing,
        },
        "payments": {
            "terms_days": partner.payment_terms_days,
            "methods": list(partner.payment_methods),
            "instructions": partner.payment_instructions,
            "accepted_currencies": list(partner.accepted_currencies or []),
        },
        "collections": {
            "policy": partner.collections_policy,
            "reminder_after_days": partner.reminder_after_days,
            "suspend_after_days_overdue": partner.suspend_after_days_overdue,
        },
        "entitlements": [
            {
                "program": e.program.value,
                "contract_id": e.contract_id,
                "start": e.valid_from,
                "end": e.valid_to,
                "incidents_remaining": e.incidents_remaining,
            }
            for e in sorted(partner.entitlements, key=lambda e: e.id or 0)
        ],
        "staff": [
            {
                "name": u.name,
                "email": u.email,
                "role": u.role.value,
                "slack_user_id": u.slack_user_id,
                "entra_object_id": u.aad_object_id,
                "active": u.active,
            }
            for u in sorted(partner.users, key=lambda u: u.id or 0)
        ],
        "partner_center": None,
        "invoice_numbering": None,
        "handoff": {
            "slack_channel_id": partner.slack_channel_id,
            "teams_channel_id": partner.teams_channel_id,
        },
        "webhooks": [dict(endpoint) for endpoint in partner.webhook_endpoints or []],
    }
    if partner.partner_center_tenant_id:
        data["partner_center"] = {
            "tenant_id": partner.partner_center_tenant_id,
            "client_id": partner.partner_center_client_id,
            "client_secret_env": partner.partner_center_secret_env,
        }
    if partner.invoice_number_pattern:
        data["invoice_numbering"] = {
            "prefix": partner.invoice_number_prefix or "",
            "pattern": partner.invoice_number_pattern,
            "example": partner.invoice_number_example,
        }
    return data


def export_profile(partner: Partner) -> PartnerProfile:
    """The profile of `partner`, validated (ValidationError when incomplete)."""
    return PartnerProfile.model_validate(export_profile_data(partner))


def _plain(value: Any) -> Any:
    """Data for YAML: enums as their values, times quoted, None and defaults out."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def profile_dump(profile: Union[PartnerProfile, dict[str, Any]]) -> dict[str, Any]:
    """A profile (or its data) as plain data without empty values, for the file."""
    if isinstance(profile, PartnerProfile):
        data = profile.model_dump(exclude_none=True)
    else:
        data = profile
    plain = _plain(data)
    for member in plain.get("staff", []):
        if member.get("active") is True:
            del member["active"]  # the default: only leavers say it
    hours = plain.get("support", {}).get("hours", {})
    if not hours.get("holidays"):
        hours.pop("holidays", None)
    if not plain.get("handoff"):
        plain.pop("handoff", None)
    if not plain.get("webhooks"):
        plain.pop("webhooks", None)
    for endpoint in plain.get("webhooks", []):
        if endpoint.get("events") == list(ALL_EVENTS):
            del endpoint["events"]  # the default: every event
    if plain.get("invoice_numbering", {}).get("prefix") == "":
        del plain["invoice_numbering"]["prefix"]
    return plain


FOLD_WIDTH = 78


def _folded(text: str) -> FoldedScalarString:
    """`text` as a folded block (`>-`), broken at single spaces near FOLD_WIDTH."""
    folded = FoldedScalarString(text)
    positions: list[int] = []
    start, last_space = 0, -1
    for index, char in enumerate(text):
        if (
            char == " "
            and text[index - 1] != " "
            and text[index + 1 : index + 2] != " "
        ):
            last_space = index
        if index - start >= FOLD_WIDTH and last_space > start:
            positions.append(last_space)
            start = last_space + 1
    folded.fold_pos = positions
    return folded


def _yaml_tree(value: Any) -> Any:
    """Plain data as ruamel.yaml nodes: short lists of words in flow style, long
    texts folded, times quoted."""
    if isinstance(value, dict):
        tree = CommentedMap()
        for key, item in value.items():
            tree[key] = _yaml_tree(item)
        return tree
    if isinstance(value, list):
        items = CommentedSeq(_yaml_tree(item) for item in value)
        if all(isinstance(item, str) and len(item) < 30 for item in value):
            items.fa.set_flow_style()
        return items
    if isinstance(value, str) and re.fullmatch(r"\d\d:\d\d", value):
        return DoubleQuotedScalarString(value)  # a YAML 1.1 reader sees 07:00 as 420
    if (
        isinstance(value, str)
        and len(value) > FOLD_WIDTH
        and value == value.strip()
        and "\n" not in value
    ):
        return _folded(value)
    return value


def dump_profile(profile: Union[PartnerProfile, dict[str, Any]]) -> str:
    """The YAML text of a profile (or of the data `export_profile_data` gives)."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 88
    out = StringIO()
    out.write(
        "# Partner profile: csp-desk partner apply FILE.yml (docs/onboarding.md)\n"
    )
    yaml.dump(_yaml_tree(profile_dump(profile)), out)
    return out.getvalue()


__all__ = [
    "ApplyReport",
    "PartnerProfile",
    "Problem",
    "ProfileConflict",
    "ProfileError",
    "SupportHours",
    "WebhookEndpoint",
    "apply_profile",
    "dump_profile",
    "export_profile",
    "export_profile_data",
    "load_profile",
    "parse_profile",
    "profile_from_data",
    "profile_json_schema",
]
