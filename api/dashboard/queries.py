"""Reading the review tables: filters, keyset pages and metrics.

Pages are keyset pages on ``(started_at, id)``, newest first, never OFFSET: a page
is "the next 50 rows older than this cursor", which an index answers in the same
time on page 1 and on page 2,000 (``scripts/bench_dashboard.py``). Every equality
filter has an index that starts with its column and ends with the keyset.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal, Optional

from sqlalchemy import (
    ColumnElement,
    case,
    exists,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.orm import Session, aliased, defer, selectinload

from api.dashboard.models import Conversation, ConversationTopic, Outcome, Triage
from api.domain.models import MAX_DB_ID

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_TEXT_QUERY = 200
Granularity = Literal["day", "week"]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class ConversationFilters:
    """The list's (and the metrics') filters; None means "any"."""

    date_from: Optional[date] = None  # started on or after (UTC day)
    date_to: Optional[date] = None  # started on or before (UTC day)
    channel: Optional[str] = None
    partner_id: Optional[int] = None
    customer_id: Optional[int] = None
    topic: Optional[str] = None
    triage: Optional[Triage] = None
    outcome: Optional[Outcome] = None
    low_confidence: Optional[bool] = None  # has low-confidence or fallback turns
    text: Optional[str] = None  # in user, bot and agent texts

    def conditions(self, *, by_day: bool = False) -> list[ColumnElement[bool]]:
        """WHERE conditions. The date range is on ``started_at`` (the list's
        keyset index), or with ``by_day`` on the equivalent ``started_day`` (the
        metrics' covering index)."""
        c = Conversation
        found: list[ColumnElement[bool]] = []
        if by_day:
            if self.date_from is not None:
                found.append(c.started_day >= self.date_from)
            if self.date_to is not None:
                found.append(c.started_day <= self.date_to)
        else:
            if self.date_from is not None:
                found.append(c.started_at >= day_start(self.date_from))
            if self.date_to is not None:
                found.append(c.started_at < day_start(self.date_to + timedelta(days=1)))
        if self.channel:
            found.append(c.channel == self.channel)
        if self.partner_id is not None:
            found.append(c.partner_id == self.partner_id)
        if self.customer_id is not None:
            found.append(c.customer_id == self.customer_id)
        if self.triage is not None:
            found.append(c.triage == self.triage)
        if self.outcome is not None:
            found.append(c.outcome == self.outcome)
        if self.low_confidence is not None:
            found.append(c.has_low_confidence.is_(self.low_confidence))
        if self.topic:
            # An alias, so that the subquery correlates to the conversation only,
            # also inside a query over the topics table (the metrics' top topics).
            mentioned = aliased(ConversationTopic)
            found.append(
                exists().where(
                    mentioned.conversation_id == c.id,
                    mentioned.topic == self.topic,
                )
            )
        if self.text:
            found.append(
                c.search_text.like(_like_pattern(self.text.lower()), escape="\\")
            )
        return found

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters (for links), without empty ones."""
        params: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                params[item.name] = "yes" if value else "no"
            elif isinstance(value, (Outcome, Triage)):
                params[item.name] = value.value
            else:
                params[item.name] = str(value)
        return params

    @classmethod
    def from_params(
        cls, params: Mapping[str, str]
    ) -> tuple[ConversationFilters, list[str]]:
        """Filters from query parameters, and a message for each one ignored."""
        errors: list[str] = []
        values: dict[str, Any] = {}

        def get(name: str) -> str:
            return (params.get(name) or "").strip()

        for name in ("date_from", "date_to"):
            if get(name):
                try:
                    values[name] = date.fromisoformat(get(name))
                except ValueError:
                    errors.append(f"{name}: not a date (YYYY-MM-DD)")
        for name in ("partner_id", "customer_id"):
            if get(name):
                try:
                    values[name] = int(get(name))
                except ValueError:
                    errors.append(f"{name}: not a number")
                    continue
                if not 1 <= values[name] <= MAX_DB_ID:
                    del values[name]
                    errors.append(f"{name}: no such id")
        if get("channel"):
            values["channel"] = get("channel")[:40]
        if get("topic"):
            values["topic"] = get("topic")[:40]
        for name, enum_type in (("triage", Triage), ("outcome", Outcome)):
            if get(name):
                try:
                    values[name] = enum_type(get(name))
                except ValueError:
                    errors.append(f"{name}: unknown value")
        flag = get("low_confidence").lower()
        if flag in {"yes", "true", "1", "on"}:
            values["low_confidence"] = True
        elif flag in {"no", "false", "0"}:
            values["low_confidence"] = False
        if get("text"):
            values["text"] = get("text")[:MAX_TEXT_QUERY]
        return cls(**values), errors


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the keyset of a row."""

    started_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.started_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def decode(cls, text: Optional[str]) -> Optional[Cursor]:
        if not text:
            return None
        try:
            micros, ident = text.split(".", 1)
            cursor = cls(EPOCH + timedelta(microseconds=int(micros)), int(ident))
        except (ValueError, OverflowError):
            return None
        return cursor if 0 <= cursor.id <= MAX_DB_ID else None

    @classmethod
    def of(cls, conversation: Conversation) -> Cursor:
        return cls(conversation.started_at, conversation.id)


@dataclass
class Page:
    items: list[Conversation]
    older: Optional[Cursor] = None  # cursor for the next (older) page
    newer: Optional[Cursor] = None  # cursor for the previous (newer) page


def list_conversations(
    session: Session,
    filters: ConversationFilters,
    *,
    after: Optional[Cursor] = None,
    before: Optional[Cursor] = None,
    limit: int = 50,
) -> Page:
    """A page of conversations, newest first: older than ``after``, or the page
    just newer than ``before``, or the first page."""
    keyset = tuple_(Conversation.started_at, Conversation.id)
    query = (
        select(Conversation)
        .options(selectinload(Conversation.topics), defer(Conversation.search_text))
        .where(*filters.conditions())
    )
    if before is not None and after is None:
        rows = list(
            session.scalars(
                query.where(keyset > tuple_(_at(before.started_at), literal(before.id)))
                .order_by(Conversation.started_at.asc(), Conversation.id.asc())
                .limit(limit + 1)
            )
        )
        more_newer = len(rows) > limit
        items = list(reversed(rows[:limit]))
        return Page(
            items=items,
            older=Cursor.of(items[-1]) if items else before,
            newer=Cursor.of(items[0]) if items and more_newer else None,
        )
    if after is not None:
        query = query.where(keyset < tuple_(_at(after.started_at), literal(after.id)))
    rows = list(
        session.scalars(
            query.order_by(
                Conversation.started_at.desc(), Conversation.id.desc()
            ).limit(limit + 1)
        )
    )
    items = rows[:limit]
    return Page(
        items=items,
        older=Cursor.of(items[-1]) if len(rows) > limit else None,
        newer=Cursor.of(items[0]) if after is not None and items else None,
    )


def _at(value: datetime) -> Any:
    """A datetime bound with the column's type (UTC, naive in storage)."""
    return literal(value, Conversation.__table__.c.started_at.type)


def count_conversations(session: Session, filters: ConversationFilters) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Conversation).where(*filters.conditions())
        )
        or 0
    )


# --------------------------------------------------------------------------- metrics


@dataclass
class Bucket:
    """Counts for one period (or the whole range)."""

    period: Optional[date]
    conversations: int = 0
    resolved: int = 0
    escalated: int = 0
    handed_off: int = 0
    abandoned: int = 0
    # Intent predictions: typed user messages, not button clicks or form answers.
    predicted_turns: int = 0
    low_confidence_turns: int = 0
    with_low_confidence: int = 0
    commercial: int = 0
    technical: int = 0
    mixed: int = 0
    no_triage: int = 0

    def _rate(self, part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    @property
    def containment_rate(self) -> float:
        """Resolved by the bot without a ticket or a human."""
        return self._rate(self.resolved, self.conversations)

    @property
    def escalation_rate(self) -> float:
        return self._rate(self.escalated, self.conversations)

    @property
    def handoff_rate(self) -> float:
        return self._rate(self.handed_off, self.conversations)

    @property
    def abandonment_rate(self) -> float:
        return self._rate(self.abandoned, self.conversations)

    @property
    def fallback_rate(self) -> float:
        """Share of intent predictions that were nlu_fallback or below the
        threshold."""
        return self._rate(self.low_confidence_turns, self.predicted_turns)

    @property
    def conversations_with_fallback_rate(self) -> float:
        return self._rate(self.with_low_confidence, self.conversations)

    def add(self, other: Bucket) -> None:
        for item in fields(self):
            if item.name != "period":
                setattr(
                    self,
                    item.name,
                    getattr(self, item.name) + getattr(other, item.name),
                )


TRIAGE_FIELD = {
    Triage.COMMERCIAL: "commercial",
    Triage.TECHNICAL: "technical",
    Triage.MIXED: "mixed",
    Triage.NONE: "no_triage",
}
OUTCOME_FIELD = {
    Outcome.RESOLVED: "resolved",
    Outcome.ESCALATED: "escalated",
    Outcome.HANDED_OFF: "handed_off",
    Outcome.ABANDONED: "abandoned",
}


@dataclass
class Metrics:
    date_from: date
    date_to: date
    granularity: Granularity
    total: Bucket
    series: list[Bucket] = field(default_factory=list)
    top_topics: list[tuple[str, int]] = field(default_factory=list)


def period_of(day: date, granularity: Granularity) -> date:
    """The first day of the period ``day`` is in (weeks start on Monday)."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day


DEFAULT_DAYS = 30
DEFAULT_WEEKS = 12
DEFAULT_GRANULARITY: Granularity = "week"


def default_range(
    today: date, granularity: Granularity = DEFAULT_GRANULARITY
) -> tuple[date, date]:
    """The range shown without one: the last 12 weeks (whole weeks from a Monday),
    or the last 30 days."""
    if granularity == "week":
        return period_of(today, "week") - timedelta(weeks=DEFAULT_WEEKS - 1), today
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def compute_metrics(
    session: Session,
    filters: ConversationFilters,
    *,
    granularity: Granularity = DEFAULT_GRANULARITY,
    today: Optional[date] = None,
    top: int = 10,
) -> Metrics:
    """Outcome rates, fallback rate, triage split and top topics over time.

    Without a date range: the last 12 weeks per week, or the last 30 days per day
    (UTC).
    """
    today = today or datetime.now(timezone.utc).date()
    start, end = default_range(today, granularity)
    filters = replace(
        filters,
        date_from=filters.date_from or start,
        date_to=filters.date_to or max(end, filters.date_from or end),
    )
    assert filters.date_from is not None and filters.date_to is not None
    c = Conversation

    def count_when(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    # One row per day, every count summed in SQL; the covering index
    # ix_conversations_metrics serves it in day order.
    columns: dict[str, Any] = {
        "conversations": func.count(),
        "predicted_turns": func.coalesce(func.sum(c.predicted_turns), 0),
        "low_confidence_turns": func.coalesce(func.sum(c.low_confidence_turns), 0),
        "with_low_confidence": count_when(c.has_low_confidence.is_(True)),
    }
    for outcome, name in OUTCOME_FIELD.items():
        columns[name] = count_when(c.outcome == outcome)
    for triage, name in TRIAGE_FIELD.items():
        columns[name] = count_when(c.triage == triage)
    rows = session.execute(
        select(c.started_day, *(value.label(name) for name, value in columns.items()))
        .where(*filters.conditions(by_day=True))
        .group_by(c.started_day)
    ).all()
    buckets: dict[date, Bucket] = {}
    day = period_of(filters.date_from, granularity)
    while day <= filters.date_to:
        buckets[day] = Bucket(period=day)
        day = day + timedelta(days=7 if granularity == "week" else 1)
    total = Bucket(period=None)
    for row in rows:
        period = period_of(_as_date(row[0]), granularity)
        part = Bucket(
            period=period, **{name: int(getattr(row, name)) for name in columns}
        )
        buckets.setdefault(period, Bucket(period=period)).add(part)
        total.add(part)
    topic = ConversationTopic
    top_query = (
        select(topic.topic, func.count())
        .where(topic.topic != "smalltalk")
        .group_by(topic.topic)
        .order_by(func.count().desc(), topic.topic)
        .limit(top)
    )
    if replace(filters, date_from=None, date_to=None) == ConversationFilters():
        # Dates only: the topics table's own (started_day, topic) index.
        top_query = top_query.where(
            topic.started_day >= filters.date_from, topic.started_day <= filters.date_to
        )
    else:
        top_query = top_query.join(c, c.id == topic.conversation_id).where(
            *filters.conditions(by_day=True)
        )
    top_rows = session.execute(top_query).all()
    return Metrics(
        date_from=filters.date_from,
        date_to=filters.date_to,
        granularity=granularity,
        total=total,
        series=[buckets[k] for k in sorted(buckets)],
        top_topics=[(str(topic), int(count)) for topic, count in top_rows],
    )


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


CSV_COLUMNS: Sequence[tuple[str, str]] = (
    ("period_start", "period"),
    ("conversations", "conversations"),
    ("resolved", "resolved"),
    ("escalated", "escalated"),
    ("handed_off", "handed_off"),
    ("abandoned", "abandoned"),
    ("containment_rate", "containment_rate"),
    ("escalation_rate", "escalation_rate"),
    ("handoff_rate", "handoff_rate"),
    ("abandonment_rate", "abandonment_rate"),
    ("predicted_turns", "predicted_turns"),
    ("low_confidence_turns", "low_confidence_turns"),
    ("fallback_rate", "fallback_rate"),
    ("conversations_with_fallback", "with_low_confidence"),
    ("commercial", "commercial"),
    ("technical", "technical"),
    ("mixed", "mixed"),
    ("no_triage", "no_triage"),
)


def metrics_csv(metrics: Metrics) -> str:
    """The series (one row per period) and a final ``total`` row, as CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in CSV_COLUMNS])
    for bucket in [*metrics.series, metrics.total]:
        row: list[Any] = []
        for _name, attribute in CSV_COLUMNS:
            value = getattr(bucket, attribute)
            if attribute == "period":
                value = value.isoformat() if value else "total"
            row.append(value)
        writer.writerow(row)
    return out.getvalue()


def distinct_channels(session: Session) -> list[str]:
    return [
        str(value)
        for value in session.scalars(
            select(Conversation.channel).distinct().order_by(Conversation.channel)
        )
    ]
