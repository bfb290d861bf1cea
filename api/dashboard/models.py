"""Tables of the review dashboard (migration 0002).

* ``dashboard_users`` and ``dashboard_sessions``: support leads, their server-side
  sessions (the cookie holds a random token; the table keeps only its SHA-256).
* ``conversations``: one summary row per Rasa conversation (sender id), built by the
  ingester (``api/dashboard/ingest.py``) from the tracker store's events, with
  ``conversation_topics`` (one row per topic) and ``conversation_turns`` (the
  redacted transcript).
* ``conversation_corrections``: leads' corrections of user turns, append-only.
* ``dashboard_ingest_state``: how far the ingester has read each source.
* ``privacy_deletions``: an audit of deleted conversations, without their content.

Every text stored here has been through ``common.redaction.redact``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.domain.models import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    """An enum stored by value as VARCHAR with a CHECK constraint (as api.domain.models)."""
    return Enum(
        cls,
        name=cls.__name__.lower(),
        native_enum=False,
        values_callable=lambda members: [m.value for m in members],
        length=40,
        create_constraint=True,
        validate_strings=True,
    )


class DashboardRole(str, enum.Enum):
    """Who may do what is in ``api/dashboard/auth.py`` (``ROLE_PERMISSIONS``)."""

    LEAD = "lead"
    ADMIN = "admin"
    AGENT = "agent"  # answers handed-off conversations (the hand-off inbox)


class Outcome(str, enum.Enum):
    """How a conversation ended; decided by ``api.dashboard.outcome`` only."""

    RESOLVED = "resolved"
    ESCALATED = "escalated"
    HANDED_OFF = "handed_off"
    ABANDONED = "abandoned"


class Triage(str, enum.Enum):
    """Triage of a whole conversation, from the triage of its topics."""

    COMMERCIAL = "commercial"
    TECHNICAL = "technical"
    MIXED = "mixed"  # both commercial and technical topics
    NONE = "none"  # only topics that are not issues (small talk, support info, ...)


class TurnKind(str, enum.Enum):
    USER = "user"
    BOT = "bot"
    AGENT = "agent"  # a bot event whose metadata names a human agent
    ACTION = "action"
    PAUSE = "pause"  # ConversationPaused: a human took over
    RESUME = "resume"  # ConversationResumed: back to the bot
    SESSION = "session"  # a new Rasa session started
    RESTART = "restart"
    FORM = "form"  # ActiveLoop: a form started (action_name) or ended (None)
    REJECTED = "rejected"  # ActionExecutionRejected: the form did not take the answer


class InputKind(str, enum.Enum):
    """How a user turn was made. Only typed messages are intent predictions worth
    judging: a button click carries the button's payload, and a form answer ("3",
    a product name) is read by the form, whatever intent NLU gave it."""

    TYPED = "typed"
    BUTTON = "button"  # a click: `text` is the button's title, never its payload
    FORM = "form"  # an answer the active form took


# --------------------------------------------------------------------------- users


class DashboardUser(Base):
    """A support lead, admin or agent who signs in to the dashboard. ``name`` is
    what a customer sees on an agent's messages."""

    __tablename__ = "dashboard_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[DashboardRole] = mapped_column(_enum(DashboardRole))
    # "scrypt$n$r$p$salt$hash" (api/dashboard/auth.py)
    password_hash: Mapped[str] = mapped_column(String(300))
    # An agent who answers only one partner's conversations; None: every partner.
    partner_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class DashboardSession(Base):
    """A signed-in browser. The cookie carries the token; only its hash is kept."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("dashboard_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    user: Mapped[DashboardUser] = relationship()


# --------------------------------------------------------------------------- review


class Conversation(Base):
    """Summary of one conversation (a Rasa sender id), kept up to date by the
    ingester. ``started_at, id`` is the keyset the list pages on."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_started", "started_at", "id"),
        Index("ix_conversations_channel_started", "channel", "started_at", "id"),
        Index("ix_conversations_outcome_started", "outcome", "started_at", "id"),
        Index("ix_conversations_triage_started", "triage", "started_at", "id"),
        Index("ix_conversations_partner_started", "partner_id", "started_at", "id"),
        Index("ix_conversations_customer_started", "customer_id", "started_at", "id"),
        Index(
            "ix_conversations_low_confidence_started",
            "has_low_confidence",
            "started_at",
            "id",
        ),
        # Covers the metrics query (one row per day), in day order.
        Index(
            "ix_conversations_metrics",
            "started_day",
            "outcome",
            "triage",
            "predicted_turns",
            "low_confidence_turns",
            "has_low_confidence",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(40), default="unknown")
    # "customer", "staff" or "anonymous": who the verified chat token named.
    requester_kind: Mapped[str] = mapped_column(String(20), default="anonymous")
    partner_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("partners.id", ondelete="SET NULL")
    )
    customer_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_day: Mapped[date] = mapped_column(Date)  # UTC day, for metrics
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_turns: Mapped[int] = mapped_column(Integer, default=0)
    # Typed user turns that were not form answers: the intent predictions, the
    # fallback rate's denominator.
    predicted_turns: Mapped[int] = mapped_column(Integer, default=0)
    bot_turns: Mapped[int] = mapped_column(Integer, default=0)
    agent_turns: Mapped[int] = mapped_column(Integer, default=0)
    low_confidence_turns: Mapped[int] = mapped_column(Integer, default=0)
    fallback_turns: Mapped[int] = mapped_column(Integer, default=0)
    has_low_confidence: Mapped[bool] = mapped_column(Boolean, default=False)
    primary_topic: Mapped[Optional[str]] = mapped_column(String(40))
    triage: Mapped[Triage] = mapped_column(_enum(Triage), default=Triage.NONE)
    tickets_filed: Mapped[int] = mapped_column(Integer, default=0)
    ticket_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    handoffs: Mapped[int] = mapped_column(Integer, default=0)
    handoff_seconds: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome), default=Outcome.ABANDONED)
    # The user's first message that says what they came for (redacted, cut), for
    # the list.
    preview: Mapped[str] = mapped_column(String(200), default="")
    # Lower-cased, redacted user, bot and agent texts, for the text search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    topics: Mapped[list[ConversationTopic]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ConversationTopic.topic",
    )


class ConversationTopic(Base):
    """A topic (common/taxonomy.yml) that a conversation touched. ``started_day`` is
    the conversation's, copied so that the metrics count topics per day range
    from this table's own index."""

    __tablename__ = "conversation_topics"
    __table_args__ = (
        Index("ix_conversation_topics_topic", "topic", "conversation_id"),
        Index("ix_conversation_topics_day", "started_day", "topic"),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(40), primary_key=True)
    triage: Mapped[str] = mapped_column(String(20))
    started_day: Mapped[date] = mapped_column(Date)


class ConversationTurn(Base):
    """One event of a conversation worth showing, redacted."""

    __tablename__ = "conversation_turns"
    __table_args__ = (UniqueConstraint("conversation_id", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(BigInteger)  # the tracker store's events.id
    kind: Mapped[TurnKind] = mapped_column(_enum(TurnKind))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[Optional[str]] = mapped_column(Text)
    intent: Mapped[Optional[str]] = mapped_column(String(100))
    confidence: Mapped[Optional[float]] = mapped_column(Float)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    action_name: Mapped[Optional[str]] = mapped_column(String(100))
    agent_name: Mapped[Optional[str]] = mapped_column(String(200))
    # Bot turns: the buttons shown, [{"title", "key"}] ("key" a digest of the
    # payload, which is not kept: it can be a subscription id). User turns: how
    # the message was made.
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    input_kind: Mapped[InputKind] = mapped_column(
        _enum(InputKind), default=InputKind.TYPED
    )
    is_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    is_low_confidence: Mapped[bool] = mapped_column(Boolean, default=False)


class Correction(Base):
    """A lead's correction of a user turn. Never updated: a newer row for the same
    turn supersedes it, and the export uses the newest one."""

    __tablename__ = "conversation_corrections"
    __table_args__ = (
        Index("ix_conversation_corrections_turn", "conversation_id", "event_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)  # the (redacted) user text corrected
    intent: Mapped[str] = mapped_column(String(100))
    # [{"start", "end", "entity", "value"}] over `text`
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    predicted_intent: Mapped[Optional[str]] = mapped_column(String(100))
    author_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("dashboard_users.id", ondelete="SET NULL")
    )
    author_email: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    supersedes_id: Mapped[Optional[int]] = mapped_column(
        # Named by hand: the conventional name is longer than PostgreSQL's 63.
        ForeignKey(
            "conversation_corrections.id",
            ondelete="SET NULL",
            name="fk_conversation_corrections_supersedes_id",
        )
    )


class IngestState(Base):
    """How far the ingester has read a transcript source."""

    __tablename__ = "dashboard_ingest_state"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    tickets_seen_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PrivacyDeletion(Base):
    """A conversation deleted on a privacy request: who, when, how much. The sender
    id is kept only as a SHA-256, so that the ingester can skip any of its old
    events that come back, without keeping the id itself."""

    __tablename__ = "privacy_deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_hash: Mapped[str] = mapped_column(String(64), index=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_by: Mapped[str] = mapped_column(String(200))
    tracker_events_deleted: Mapped[int] = mapped_column(Integer, default=0)
    tickets_scrubbed: Mapped[int] = mapped_column(Integer, default=0)


class TranscriptEvent(Base):
    """A Rasa event as the event broker delivered it (production profile): the
    transcript consumer (``api/dashboard/consumer.py``) appends each message of the
    RabbitMQ queue here, in arrival order, and the ingester reads it like the tracker
    store (``BrokerTranscriptSource``). ``digest`` (SHA-256 of the message) makes a
    redelivered message a no-op; ``data`` is the event's JSON, as in Rasa's table."""

    __tablename__ = "transcript_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    type_name: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[float] = mapped_column(Float)
    data: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
