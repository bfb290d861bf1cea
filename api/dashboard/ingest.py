"""The ingester: Rasa events in, review tables (``conversations`` and friends) out.

It reads a ``TranscriptSource`` incrementally, remembering the last event id per
source in ``dashboard_ingest_state``, so each event is read once. New events become
redacted ``conversation_turns``; every conversation they touch gets its summary
recomputed from all its turns (``summarize``), which is where topics, triage,
low-confidence turns, handoff periods and the outcome (``api.dashboard.outcome``)
come from. Tickets filed since the last run refresh their conversations too.

Run it from the command line (``csp-desk dashboard ingest``, ``--loop`` to keep
going), or let the dashboard run it when a page opens
(``DASHBOARD_INGEST_ON_REQUEST``, on by default).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional, cast

import jwt
from sqlalchemy import CursorResult, Table, func, insert, select, update
from sqlalchemy.orm import Session

from api.dashboard.models import (
    Conversation,
    ConversationTopic,
    ConversationTurn,
    Correction,
    IngestState,
    InputKind,
    Outcome,
    PrivacyDeletion,
    Triage,
    TurnKind,
)
from api.dashboard.outcome import (
    SMALLTALK_TOPIC,
    LastQuestion,
    OutcomeFacts,
    conversation_outcome,
)
from api.dashboard.transcripts import TrackerEvent, TranscriptSource
from api.domain.models import Customer, PartnerUser, Ticket, utcnow
from api.settings import Settings, get_settings
from common.identity import (
    ALGORITHM,
    AUDIENCE,
    PLATFORMS,
    ChatIdentity,
    InvalidChatToken,
    verify_chat_token,
)
from common.redaction import find_redactions, redact, shift_offset
from common.taxonomy import FALLBACK_INTENT, NO_TRIAGE, Taxonomy, load_taxonomy

logger = logging.getLogger(__name__)

CHAT_TOKEN_KEY = "chat_token"  # noqa: S105 (a metadata key, not a secret)
AGENT_KEY = "agent"  # bot event metadata naming the human agent who wrote it
SKIPPED_ACTIONS = frozenset({"action_listen"})
TOKEN_LEEWAY_SECONDS = 60
DEFAULT_BATCH_SIZE = 1000
MAX_BUTTON_TITLE = 200
PREVIEW_CHARS = 120

_ingest_lock = threading.Lock()


class IngestConflict(RuntimeError):
    """Another ingester moved the same source on first; this run must roll back."""


@dataclass
class IngestReport:
    events_read: int = 0
    conversations: set[int] = field(default_factory=set)
    purged_events: int = 0
    last_event_id: int = 0

    def describe(self) -> str:
        return (
            f"{self.events_read} events read, {len(self.conversations)} "
            f"conversations updated, {self.purged_events} deleted events purged, "
            f"position {self.last_event_id}"
        )


def sender_hash(sender_id: str) -> str:
    """How a deleted conversation's sender id is remembered (privacy_deletions)."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()


def to_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


# --------------------------------------------------------------------------- identity


def identity_at(secret: str, token: Any, at: float) -> Optional[ChatIdentity]:
    """Who a chat token named when the message was sent, or None.

    ``verify_chat_token`` checks the token now; an old conversation's token has
    usually expired since, so a token that fails only on expiry is accepted when it
    had not expired at ``at`` (the event's time). Signature and audience are always
    checked.
    """
    try:
        return verify_chat_token(secret, token)
    except InvalidChatToken as exc:
        if not isinstance(exc.__cause__, jwt.ExpiredSignatureError):
            return None
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"], "verify_exp": False},
        )
    except jwt.PyJWTError:
        return None
    if float(claims["exp"]) + TOKEN_LEEWAY_SECONDS < at:
        return None
    # The same reading of the claims as common.identity.verify_chat_token.
    kind = claims.get("kind")
    if kind == "customer" and isinstance(claims.get("tenant_id"), str):
        return ChatIdentity(
            kind="customer",
            subject=str(claims["sub"]),
            tenant_id=claims["tenant_id"],
            name=str(claims.get("name", "")),
            email=str(claims.get("email", "")),
        )
    if kind == "staff" and claims.get("platform") in PLATFORMS:
        return ChatIdentity(
            kind="staff",
            subject=str(claims["sub"]),
            platform=claims["platform"],
            name=str(claims.get("name", "")),
            email=str(claims.get("email", "")),
        )
    return None


def resolve_requester(
    session: Session, identity: ChatIdentity
) -> tuple[str, Optional[int], Optional[int]]:
    """(requester kind, partner id, customer id) of a verified chatter."""
    if identity.kind == "customer":
        customer = session.scalars(
            select(Customer).where(Customer.tenant_id == (identity.tenant_id or ""))
        ).first()
        if customer is None:
            return "customer", None, None
        return "customer", customer.partner_id, customer.id
    column = (
        PartnerUser.slack_user_id
        if identity.platform == "slack"
        else PartnerUser.aad_object_id
    )
    user = session.scalars(
        select(PartnerUser).where(column == identity.subject)
    ).first()
    return "staff", (user.partner_id if user else None), None


# --------------------------------------------------------------------------- turns


def _redacted_entities(text: str, entities: Any) -> list[dict[str, Any]]:
    """Entities with redacted values and offsets moved to the redacted text."""
    if not isinstance(entities, list):
        return []
    redactions = find_redactions(text)
    kept: list[dict[str, Any]] = []
    for entity in entities:
        if not isinstance(entity, Mapping) or not entity.get("entity"):
            continue
        item: dict[str, Any] = {"entity": str(entity["entity"])}
        value = entity.get("value")
        item["value"] = redact(value) if isinstance(value, str) else value
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int):
            item["start"] = shift_offset(start, redactions)
            item["end"] = shift_offset(end, redactions)
        for key in ("role", "group", "extractor"):
            if entity.get(key):
                item[key] = str(entity[key])
        kept.append(item)
    return kept


def payload_key(payload: str) -> str:
    """What a button's payload is remembered as: a digest, enough to recognise the
    click, without keeping the payload (a subscription id, an entity value)."""
    return hashlib.sha256(payload.strip().encode("utf-8")).hexdigest()[:16]


def shown_buttons(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """The buttons (or quick replies) of a bot event, as stored: redacted titles
    and payload keys."""
    rich = data.get("data")
    rich = rich if isinstance(rich, Mapping) else {}
    found = rich.get("buttons") or rich.get("quick_replies") or []
    buttons: list[dict[str, str]] = []
    for button in found if isinstance(found, list) else []:
        if not isinstance(button, Mapping):
            continue
        title, payload = button.get("title"), button.get("payload")
        if not isinstance(title, str) or not isinstance(payload, str) or not payload:
            continue  # a link button sends nothing back
        buttons.append(
            {"title": redact(title)[:MAX_BUTTON_TITLE], "key": payload_key(payload)}
        )
    return buttons


def prediction_flags(
    intent: Optional[str], confidence: Optional[float], threshold: float
) -> tuple[bool, bool]:
    """(is_fallback, is_low_confidence) of a typed message's prediction."""
    is_fallback = intent == FALLBACK_INTENT
    low = (
        intent is None
        or is_fallback
        or (confidence is not None and confidence < threshold)
    )
    return is_fallback, low


def turn_from_event(
    event: TrackerEvent, *, threshold: float
) -> Optional[dict[str, Any]]:
    """The redacted ``conversation_turns`` row an event shows as (without its
    conversation id), or None for events not shown (slots, ``action_listen``,
    ...)."""
    data = event.data
    when = to_datetime(event.timestamp)
    kind = event.type_name
    if kind == "user":
        text = redact(str(data.get("text") or ""))
        parse = data.get("parse_data") or {}
        intent_data = parse.get("intent") or {}
        intent = intent_data.get("name") or None
        confidence = intent_data.get("confidence")
        confidence = float(confidence) if isinstance(confidence, (int, float)) else None
        is_fallback, low = prediction_flags(intent, confidence, threshold)
        return _turn(
            event_id=event.id,
            kind=TurnKind.USER,
            timestamp=when,
            text=text,
            intent=intent,
            confidence=confidence,
            entities=_redacted_entities(
                str(data.get("text") or ""), parse.get("entities")
            ),
            is_fallback=is_fallback,
            is_low_confidence=low,
        )
    if kind == "bot":
        metadata = data.get("metadata") or {}
        agent = metadata.get(AGENT_KEY) if isinstance(metadata, Mapping) else None
        said = str(data.get("text") or "")
        rich = data.get("data")
        custom = rich.get("custom") if isinstance(rich, Mapping) else None
        if agent and not said and isinstance(custom, Mapping):
            # An agent's message is a payload with their name (docs/channels.md).
            said = str(custom.get("text") or "")
        buttons = shown_buttons(data)
        if (
            not said
            and not buttons
            and isinstance(rich, Mapping)
            and any(rich.values())
        ):
            said = "[rich message]"
        return _turn(
            event_id=event.id,
            kind=TurnKind.AGENT if agent else TurnKind.BOT,
            timestamp=when,
            text=redact(said),
            agent_name=str(agent)[:200] if agent else None,
            entities=[],
            buttons=buttons,
        )
    if kind == "action":
        name = str(data.get("name") or "")
        if not name or name in SKIPPED_ACTIONS:
            return None
        confidence = data.get("confidence")
        return _turn(
            event_id=event.id,
            kind=TurnKind.ACTION,
            timestamp=when,
            action_name=name[:100],
            confidence=float(confidence)
            if isinstance(confidence, (int, float))
            else None,
            entities=[],
        )
    if kind in ("active_loop", "action_execution_rejected"):
        loop = data.get("name")
        return _turn(
            event_id=event.id,
            kind=TurnKind.FORM if kind == "active_loop" else TurnKind.REJECTED,
            timestamp=when,
            action_name=loop[:100] if isinstance(loop, str) and loop else None,
        )
    simple = {
        "pause": TurnKind.PAUSE,
        "resume": TurnKind.RESUME,
        "session_started": TurnKind.SESSION,
        "restart": TurnKind.RESTART,
    }
    if kind in simple:
        return _turn(event_id=event.id, kind=simple[kind], timestamp=when)
    return None


def _turn(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "text": None,
        "intent": None,
        "confidence": None,
        "entities": [],
        "action_name": None,
        "agent_name": None,
        "buttons": [],
        "input_kind": InputKind.TYPED,
        "is_fallback": False,
        "is_low_confidence": False,
    }
    row.update(values)
    return row


def as_click(row: dict[str, Any], raw_text: str, offered: Mapping[str, str]) -> None:
    """Make a user turn a button click when its text is the payload of a button
    just shown: it then says what the user saw and chose (the title), never the
    payload. A payload that names an intent (``/ask_invoice``) keeps it; any
    other payload (an id, a product name) was not the user's words, so what NLU
    made of it is dropped."""
    title = offered.get(payload_key(raw_text))
    if title is None:
        return
    row["text"] = title
    row["input_kind"] = InputKind.BUTTON
    row["entities"] = []
    row["is_fallback"] = False
    row["is_low_confidence"] = False
    if not raw_text.strip().startswith("/"):
        row["intent"] = None
        row["confidence"] = None


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class HandoffPeriod:
    start: datetime
    end: Optional[datetime]  # None: still with a human

    def seconds(self, until: datetime) -> int:
        return max(0, int(((self.end or until) - self.start).total_seconds()))


@dataclass
class Summary:
    """Everything the ``conversations`` row says, computed from the turns."""

    user_turns: int
    predicted_turns: int
    bot_turns: int
    agent_turns: int
    low_confidence_turns: int
    fallback_turns: int
    topics: dict[str, str]  # topic -> triage, in order of first appearance
    primary_topic: Optional[str]
    triage: Triage
    handoff_periods: list[HandoffPeriod]
    handoff_seconds: int
    tickets: list[str]
    outcome: Outcome
    preview: str
    search_text: str


def handoff_periods(turns: Iterable[ConversationTurn]) -> list[HandoffPeriod]:
    """Periods between a pause and the next resume (the last may be open)."""
    periods: list[HandoffPeriod] = []
    opened: Optional[datetime] = None
    for turn in turns:
        if turn.kind is TurnKind.PAUSE and opened is None:
            opened = turn.timestamp
        elif turn.kind is TurnKind.RESUME and opened is not None:
            periods.append(HandoffPeriod(opened, turn.timestamp))
            opened = None
    if opened is not None:
        periods.append(HandoffPeriod(opened, None))
    return periods


def form_answers(turns: Sequence[ConversationTurn]) -> set[int]:
    """Event ids of the user turns that an active form took as its answer.

    While a form is active, Rasa runs the form first on every message: a message
    the form takes is followed by the form's action and no rejection before the
    user's next message. A message that leaves the form (a rule for "stop" or
    "talk to a person" runs another action) or that the form rejects (the user
    asked something else) is a question in its own right.
    """
    answers: set[int] = set()
    active: Optional[str] = None
    pending: Optional[ConversationTurn] = None  # a user turn in a form
    form: Optional[str] = None  # the form it was written in
    first_action_seen = False
    for turn in turns:
        if turn.kind is TurnKind.USER:
            pending = turn if active else None
            form = active
            first_action_seen = False
        elif turn.kind is TurnKind.ACTION and pending is not None:
            if not first_action_seen:
                first_action_seen = True
                if turn.action_name == form:
                    answers.add(pending.event_id)
                else:
                    pending = None
        elif turn.kind is TurnKind.REJECTED and pending is not None:
            answers.discard(pending.event_id)
            pending = None
        elif turn.kind is TurnKind.FORM:
            active = turn.action_name
        elif turn.kind in (TurnKind.SESSION, TurnKind.RESTART):
            active = None
    return answers


def form_left_open(turns: Sequence[ConversationTurn]) -> bool:
    """Whether the conversation stops with a form still waiting for an answer."""
    active: Optional[str] = None
    for turn in turns:
        if turn.kind is TurnKind.FORM:
            active = turn.action_name
        elif turn.kind in (TurnKind.SESSION, TurnKind.RESTART):
            active = None
    return active is not None


def classify_user_turns(turns: Sequence[ConversationTurn], *, threshold: float) -> None:
    """Mark the user turns that were form answers (``input_kind`` form, no
    prediction flags), and give back a typed turn's flags when later events show
    it was not an answer after all. Turns are changed in place."""
    answers = form_answers(turns)
    for turn in turns:
        if turn.kind is not TurnKind.USER or turn.input_kind is InputKind.BUTTON:
            continue
        if turn.event_id in answers:
            if turn.input_kind is not InputKind.FORM:
                turn.input_kind = InputKind.FORM
                turn.is_fallback = False
                turn.is_low_confidence = False
        elif turn.input_kind is InputKind.FORM:
            turn.input_kind = InputKind.TYPED
            turn.is_fallback, turn.is_low_confidence = prediction_flags(
                turn.intent, turn.confidence, threshold
            )


def conversation_triage(triages: Iterable[str]) -> Triage:
    found = {t for t in triages if t != NO_TRIAGE}
    if {"commercial", "technical"} <= found:
        return Triage.MIXED
    if "commercial" in found:
        return Triage.COMMERCIAL
    if "technical" in found:
        return Triage.TECHNICAL
    return Triage.NONE


def preview_of(user: Sequence[ConversationTurn], taxonomy: Taxonomy) -> str:
    """The first typed message that is not small talk, else the first message at
    all, cut to PREVIEW_CHARS."""
    typed = [t for t in user if t.input_kind is InputKind.TYPED and t.text]
    chosen = next(
        (
            t
            for t in typed
            if taxonomy.intent_topic.get(t.intent or "") != SMALLTALK_TOPIC
        ),
        typed[0] if typed else next((t for t in user if t.text), None),
    )
    if chosen is None or not chosen.text:
        return ""
    text = " ".join(chosen.text.split())
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1].rstrip() + "\u2026"
    return text


def summarize(
    turns: Sequence[ConversationTurn],
    *,
    tickets: Sequence[str],
    corrected_intents: Mapping[int, str],
    taxonomy: Taxonomy,
    last_activity: datetime,
) -> Summary:
    """Summarize a conversation from its turns (in event order, form answers
    already marked by ``classify_user_turns``).

    Only typed messages count as intent predictions (low confidence, fallback,
    the last question): a form answer is read by the form, and a button click
    sends the button's payload. A button whose payload names an intent still
    says what the user wanted, so its topic counts. Topics and triage use the
    corrected intent of a turn when a lead corrected it (what the user wanted);
    low-confidence counts and the outcome use what the bot predicted at the time
    (what happened).
    """
    user = [t for t in turns if t.kind is TurnKind.USER]
    predictions = [t for t in user if t.input_kind is InputKind.TYPED]
    topics: dict[str, str] = {}
    last_question: Optional[LastQuestion] = None
    for turn in user:
        if turn.input_kind is InputKind.FORM:
            continue
        if turn.input_kind is InputKind.BUTTON and not turn.intent:
            continue
        intent = corrected_intents.get(turn.event_id, turn.intent)
        topic = taxonomy.intent_topic.get(intent or "")
        if topic is not None and topic not in topics:
            topics[topic] = taxonomy.topic_triage[topic]
        predicted_topic = taxonomy.intent_topic.get(turn.intent or "")
        if predicted_topic != SMALLTALK_TOPIC or turn.is_low_confidence:
            last_question = LastQuestion(
                topic=predicted_topic, not_understood=turn.is_low_confidence
            )
    periods = handoff_periods(turns)
    primary = next((t for t in topics if t != SMALLTALK_TOPIC), None)
    texts = [
        t.text
        for t in turns
        if t.kind in (TurnKind.USER, TurnKind.BOT, TurnKind.AGENT) and t.text
    ]
    return Summary(
        user_turns=len(user),
        predicted_turns=len(predictions),
        bot_turns=sum(1 for t in turns if t.kind is TurnKind.BOT),
        agent_turns=sum(1 for t in turns if t.kind is TurnKind.AGENT),
        low_confidence_turns=sum(1 for t in predictions if t.is_low_confidence),
        fallback_turns=sum(1 for t in predictions if t.is_fallback),
        topics=topics,
        primary_topic=primary,
        triage=conversation_triage(topics.values()),
        handoff_periods=periods,
        handoff_seconds=sum(p.seconds(last_activity) for p in periods),
        tickets=list(tickets),
        outcome=conversation_outcome(
            OutcomeFacts(
                handoffs=len(periods),
                tickets_filed=len(tickets),
                last_question=last_question,
                form_left_open=form_left_open(turns),
            )
        ),
        preview=preview_of(user, taxonomy),
        search_text="\n".join(texts).lower(),
    )


def current_corrections(
    session: Session, conversation_id: int
) -> dict[int, Correction]:
    """The newest correction of each corrected turn of a conversation."""
    rows = session.scalars(
        select(Correction)
        .where(Correction.conversation_id == conversation_id)
        .order_by(Correction.id)
    )
    return {row.event_id: row for row in rows}  # later rows win


def tickets_of(session: Session, sender_id: str) -> list[Ticket]:
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.conversation_id == sender_id)
            .order_by(Ticket.created_at, Ticket.id)
        )
    )


def refresh_summary(
    session: Session,
    conversation: Conversation,
    *,
    taxonomy: Optional[Taxonomy] = None,
    settings: Optional[Settings] = None,
) -> Summary:
    """Recompute and store a conversation's summary from its turns."""
    taxonomy = taxonomy or load_taxonomy()
    threshold = (settings or get_settings()).dashboard_low_confidence_threshold
    turns = list(
        session.scalars(
            select(ConversationTurn)
            .where(ConversationTurn.conversation_id == conversation.id)
            .order_by(ConversationTurn.event_id)
        )
    )
    classify_user_turns(turns, threshold=threshold)
    corrections = current_corrections(session, conversation.id)
    summary = summarize(
        turns,
        tickets=[t.public_id for t in tickets_of(session, conversation.sender_id)],
        corrected_intents={k: v.intent for k, v in corrections.items()},
        taxonomy=taxonomy,
        last_activity=conversation.last_activity_at,
    )
    conversation.user_turns = summary.user_turns
    conversation.predicted_turns = summary.predicted_turns
    conversation.preview = summary.preview
    conversation.bot_turns = summary.bot_turns
    conversation.agent_turns = summary.agent_turns
    conversation.low_confidence_turns = summary.low_confidence_turns
    conversation.fallback_turns = summary.fallback_turns
    conversation.has_low_confidence = summary.low_confidence_turns > 0
    conversation.primary_topic = summary.primary_topic
    conversation.triage = summary.triage
    conversation.tickets_filed = len(summary.tickets)
    conversation.ticket_ids = summary.tickets
    conversation.handoffs = len(summary.handoff_periods)
    conversation.handoff_seconds = summary.handoff_seconds
    conversation.outcome = summary.outcome
    conversation.search_text = summary.search_text
    conversation.updated_at = utcnow()
    existing = {row.topic: row for row in conversation.topics}
    for topic, row in existing.items():
        if topic not in summary.topics:
            conversation.topics.remove(row)
        else:
            row.triage = summary.topics[topic]
            row.started_day = conversation.started_day
    for topic, triage in summary.topics.items():
        if topic not in existing:
            conversation.topics.append(
                ConversationTopic(
                    conversation_id=conversation.id,
                    topic=topic,
                    triage=triage,
                    started_day=conversation.started_day,
                )
            )
    session.flush()
    return summary


# --------------------------------------------------------------------------- ingest


def _deleted_before(session: Session, sender_ids: Iterable[str]) -> dict[str, float]:
    """When each of these senders' conversation was last deleted (epoch seconds),
    for those ever deleted: one query for the lot."""
    by_hash = {sender_hash(sender_id): sender_id for sender_id in sender_ids}
    if not by_hash:
        return {}
    rows = session.execute(
        select(PrivacyDeletion.sender_hash, func.max(PrivacyDeletion.deleted_at))
        .where(PrivacyDeletion.sender_hash.in_(by_hash))
        .group_by(PrivacyDeletion.sender_hash)
    )
    deleted: dict[str, float] = {}
    for hashed, latest in rows:
        if latest is None:
            continue
        if not isinstance(latest, datetime):  # func.max bypasses UTCDateTime on SQLite
            latest = datetime.fromisoformat(str(latest))
        if latest.tzinfo is None:
            latest = latest.replace(tzinfo=timezone.utc)
        deleted[by_hash[hashed]] = float(latest.timestamp())
    return deleted


def apply_events(
    session: Session,
    events: Sequence[TrackerEvent],
    *,
    settings: Optional[Settings] = None,
    taxonomy: Optional[Taxonomy] = None,
    source: Optional[TranscriptSource] = None,
    report: Optional[IngestReport] = None,
) -> IngestReport:
    """Store ``events`` (any order, any senders) and refresh their conversations.

    Events already stored are skipped, so applying the same events twice is
    harmless. Events of a deleted conversation that are older than its deletion are
    skipped too, and purged from ``source`` when given (a Rasa save that raced the
    deletion can write them back).
    """
    settings = settings or get_settings()
    taxonomy = taxonomy or load_taxonomy()
    report = report or IngestReport()
    by_sender: dict[str, list[TrackerEvent]] = {}
    for event in sorted(events, key=lambda e: e.id):
        by_sender.setdefault(event.sender_id, []).append(event)
        report.events_read += 1
        report.last_event_id = max(report.last_event_id, event.id)
    deletions = _deleted_before(session, by_sender)
    conversations = {
        conversation.sender_id: conversation
        for conversation in session.scalars(
            select(Conversation).where(Conversation.sender_id.in_(by_sender))
        )
    }
    for sender_id, sender_events in by_sender.items():
        deleted_at = deletions.get(sender_id)
        if deleted_at is not None:
            stale = [e for e in sender_events if e.timestamp <= deleted_at]
            if stale:
                if source is not None:
                    report.purged_events += source.delete_conversation(
                        sender_id, up_to_timestamp=deleted_at
                    )
                sender_events = [e for e in sender_events if e.timestamp > deleted_at]
        if sender_events:
            conversation = _apply_sender_events(
                session,
                sender_id,
                sender_events,
                conversations.get(sender_id),
                settings=settings,
            )
            refresh_summary(session, conversation, taxonomy=taxonomy, settings=settings)
            report.conversations.add(conversation.id)
    return report


def _apply_sender_events(
    session: Session,
    sender_id: str,
    events: Sequence[TrackerEvent],
    conversation: Optional[Conversation],
    *,
    settings: Settings,
) -> Conversation:
    """Add `events` (one sender's, oldest first) to `conversation`, the sender's
    stored conversation if there is one yet."""
    last = events[-1]
    created = conversation is None
    if conversation is None:
        started = to_datetime(min(e.timestamp for e in events))
        conversation = Conversation(
            sender_id=sender_id,
            channel="unknown",
            requester_kind="anonymous",
            started_at=started,
            started_day=started.date(),
            last_activity_at=to_datetime(last.timestamp),
            ticket_ids=[],
            search_text="",
            last_event_id=0,
        )
        session.add(conversation)
        session.flush()
    known: set[int] = set()
    # Only an event at or below the newest one applied can have been applied
    # before (a redelivery): look those up, and nothing in the usual case.
    if not created and events[0].id <= (conversation.last_event_id or 0):
        known = set(
            session.scalars(
                select(ConversationTurn.event_id).where(
                    ConversationTurn.conversation_id == conversation.id,
                    ConversationTurn.event_id.in_([e.id for e in events]),
                )
            )
        )
    threshold = settings.dashboard_low_confidence_threshold
    rows: list[dict[str, Any]] = []
    # Buttons shown since the user's last message (payload key -> title): read
    # from the stored turns the first time an event needs them.
    offered: Optional[dict[str, str]] = {} if created else None
    for event in events:
        if event.id in known:
            continue
        when = to_datetime(event.timestamp)
        if when < conversation.started_at:
            conversation.started_at = when
            conversation.started_day = when.date()
        if when > conversation.last_activity_at:
            conversation.last_activity_at = when
        conversation.last_event_id = max(conversation.last_event_id or 0, event.id)
        _note_channel_and_identity(session, conversation, event, settings=settings)
        row = turn_from_event(event, threshold=threshold)
        if row is None:
            continue
        if row["kind"] in (TurnKind.USER, TurnKind.BOT, TurnKind.AGENT):
            if offered is None:
                offered = _offered_buttons(session, conversation.id)
            if row["kind"] is TurnKind.USER:
                as_click(row, str(event.data.get("text") or ""), offered)
                offered = {}
            else:
                offered.update((b["key"], b["title"]) for b in row["buttons"])
        row["conversation_id"] = conversation.id
        rows.append(row)
    if rows:
        # Core, not the ORM's bulk path: turns are never changed here.
        session.execute(insert(cast(Table, ConversationTurn.__table__)), rows)
    return conversation


def _offered_buttons(session: Session, conversation_id: int) -> dict[str, str]:
    """The buttons stored bot turns showed after the user's last stored message."""
    last_user = session.scalar(
        select(func.max(ConversationTurn.event_id)).where(
            ConversationTurn.conversation_id == conversation_id,
            ConversationTurn.kind == TurnKind.USER,
        )
    )
    offered: dict[str, str] = {}
    for buttons in session.scalars(
        select(ConversationTurn.buttons)
        .where(
            ConversationTurn.conversation_id == conversation_id,
            ConversationTurn.kind.in_([TurnKind.BOT, TurnKind.AGENT]),
            ConversationTurn.event_id > (last_user or 0),
        )
        .order_by(ConversationTurn.event_id)
    ):
        offered.update((b["key"], b["title"]) for b in buttons or [])
    return offered


def _note_channel_and_identity(
    session: Session,
    conversation: Conversation,
    event: TrackerEvent,
    *,
    settings: Settings,
) -> None:
    if event.type_name not in ("user", "session_started"):
        return
    data = event.data
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    if conversation.channel == "unknown":
        channel = data.get("input_channel") or metadata.get("input_channel")
        if isinstance(channel, str) and channel:
            conversation.channel = channel[:40]
    if conversation.requester_kind == "anonymous" and metadata.get(CHAT_TOKEN_KEY):
        identity = identity_at(
            settings.chat_token_secret, metadata[CHAT_TOKEN_KEY], event.timestamp
        )
        if identity is not None:
            kind, partner_id, customer_id = resolve_requester(session, identity)
            conversation.requester_kind = kind
            conversation.partner_id = partner_id
            conversation.customer_id = customer_id


def _refresh_ticketed(
    session: Session,
    state: IngestState,
    *,
    taxonomy: Taxonomy,
    report: IngestReport,
) -> None:
    """Refresh conversations that got a ticket since the last run."""
    since = state.tickets_seen_at
    query = select(Ticket.conversation_id, Ticket.updated_at).where(
        Ticket.conversation_id.is_not(None)
    )
    if since is not None:
        query = query.where(Ticket.updated_at > since)
    newest = since
    senders: set[str] = set()
    for conversation_id, updated_at in session.execute(query):
        senders.add(conversation_id)
        if newest is None or updated_at > newest:
            newest = updated_at
    for conversation in session.scalars(
        select(Conversation).where(Conversation.sender_id.in_(senders))
    ):
        if conversation.id not in report.conversations:
            refresh_summary(session, conversation, taxonomy=taxonomy)
            report.conversations.add(conversation.id)
    state.tickets_seen_at = newest


def ingest(
    session: Session,
    source: TranscriptSource,
    *,
    settings: Optional[Settings] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_events: Optional[int] = None,
) -> IngestReport:
    """Read the source's new events into the review tables; the caller commits.

    Raises ``IngestConflict`` when another ingester moved the same source meanwhile
    (roll back and try again later).
    """
    settings = settings or get_settings()
    taxonomy = load_taxonomy()
    report = IngestReport()
    state = session.get(IngestState, source.name)
    if state is None:
        state = IngestState(source=source.name, last_event_id=0)
        session.add(state)
        session.flush()
    start = int(state.last_event_id)
    report.last_event_id = start
    position = start
    while max_events is None or report.events_read < max_events:
        limit = batch_size
        if max_events is not None:
            limit = min(limit, max_events - report.events_read)
        events = source.events_after(position, limit)
        if not events:
            break
        apply_events(
            session,
            events,
            settings=settings,
            taxonomy=taxonomy,
            source=source,
            report=report,
        )
        position = max(position, max(e.id for e in events))
        if len(events) < limit:
            break
    _refresh_ticketed(session, state, taxonomy=taxonomy, report=report)
    moved = cast(
        "CursorResult[Any]",
        session.execute(
            update(IngestState)
            .where(
                IngestState.source == source.name, IngestState.last_event_id == start
            )
            .values(
                last_event_id=position,
                tickets_seen_at=state.tickets_seen_at,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False),
        ),
    )
    if moved.rowcount != 1:
        raise IngestConflict(f"{source.name} was ingested concurrently")
    report.last_event_id = position
    session.expire(state)
    return report


def try_ingest(
    session_factory: Any,
    source: TranscriptSource,
    *,
    settings: Optional[Settings] = None,
    max_events: Optional[int] = None,
) -> Optional[IngestReport]:
    """Ingest in a transaction of its own, unless another thread is at it.

    For pages: a failure is logged and the page shows what is already there.
    """
    if not _ingest_lock.acquire(blocking=False):
        return None
    try:
        with session_factory() as session:
            try:
                report = ingest(
                    session, source, settings=settings, max_events=max_events
                )
                session.commit()
                return report
            except Exception:
                session.rollback()
                logger.exception("dashboard ingest from %s failed", source.name)
                return None
    finally:
        _ingest_lock.release()


def recompute_all(
    session: Session, *, settings: Optional[Settings] = None, batch: int = 500
) -> int:
    """Recompute every summary, e.g. after a change of the taxonomy or of the
    low-confidence threshold; return how many."""
    settings = settings or get_settings()
    taxonomy = load_taxonomy()
    session.execute(
        update(ConversationTurn)
        .where(
            ConversationTurn.kind == TurnKind.USER,
            ConversationTurn.input_kind == InputKind.TYPED,
        )
        .values(
            is_low_confidence=ConversationTurn.is_fallback
            | (
                ConversationTurn.confidence.is_not(None)
                & (
                    ConversationTurn.confidence
                    < settings.dashboard_low_confidence_threshold
                )
            )
        )
        .execution_options(synchronize_session=False)
    )
    count = 0
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                select(Conversation)
                .where(Conversation.id > last_id)
                .order_by(Conversation.id)
                .limit(batch)
            )
        )
        if not rows:
            return count
        for conversation in rows:
            refresh_summary(session, conversation, taxonomy=taxonomy, settings=settings)
            count += 1
        last_id = rows[-1].id
        session.flush()
