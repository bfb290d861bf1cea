"""The correction loop: leads fix a user turn's intent and entities; the fixes come
out as Rasa NLU training data.

Corrections are append-only. A new correction of the same turn supersedes the
previous one (``supersedes_id``) and the export takes only the newest, so the
history of who said what, and when, is never lost. The topic of a corrected turn
follows from its intent (``common/taxonomy.yml``), and the conversation's topics and
triage are recomputed with it.

Entities are written the way Rasa's training data writes them: the lead edits the
user text with ``[G000024135](invoice_number)`` marks, and the text without the
marks must stay exactly the user's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.dashboard.ingest import refresh_summary
from api.dashboard.models import (
    Conversation,
    ConversationTurn,
    Correction,
    DashboardUser,
    InputKind,
    TurnKind,
)
from api.domain.models import utcnow
from api.settings import ROOT
from common.redaction import redact
from common.taxonomy import FALLBACK_INTENT, load_taxonomy

DOMAIN_DIR = ROOT / "domain"
ANNOTATION = re.compile(r"\[(?P<text>[^\[\]]+)\]\((?P<entity>[A-Za-z_][\w.-]*)\)")


class CorrectionError(ValueError):
    """A correction that cannot be stored (the message says why)."""


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    entity: str
    value: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "entity": self.entity,
            "value": self.value,
        }


def parse_annotated(annotated: str) -> tuple[str, list[Entity]]:
    """Plain text and entities of a ``[text](entity)``-annotated example."""
    plain: list[str] = []
    entities: list[Entity] = []
    position = 0
    length = 0
    for match in ANNOTATION.finditer(annotated):
        before = annotated[position : match.start()]
        plain.append(before)
        length += len(before)
        value = match.group("text")
        entities.append(
            Entity(length, length + len(value), match.group("entity"), value)
        )
        plain.append(value)
        length += len(value)
        position = match.end()
    plain.append(annotated[position:])
    return "".join(plain), entities


def annotate(text: str, entities: Iterable[Mapping[str, Any]]) -> str:
    """``text`` with ``[value](entity)`` marks (overlapping entities are skipped)."""
    spans = sorted(
        (
            (int(e["start"]), int(e["end"]), str(e["entity"]))
            for e in entities
            if isinstance(e.get("start"), int) and isinstance(e.get("end"), int)
        ),
        key=lambda s: (s[0], -s[1]),
    )
    out: list[str] = []
    position = 0
    for start, end, entity in spans:
        if start < position or not (0 <= start < end <= len(text)):
            continue
        out.append(text[position:start])
        out.append(f"[{text[start:end]}]({entity})")
        position = end
    out.append(text[position:])
    return "".join(out)


@lru_cache(maxsize=4)
def domain_entities(domain: Path = DOMAIN_DIR) -> tuple[str, ...]:
    """Entity names declared in the Rasa domain (``domain/*.yml``)."""
    names: list[str] = []
    files = sorted(domain.rglob("*.yml")) if domain.is_dir() else [domain]
    for file in files:
        with file.open(encoding="utf-8") as fh:
            content = yaml.safe_load(fh) or {}
        for item in content.get("entities") or []:
            name = next(iter(item)) if isinstance(item, Mapping) else item
            if str(name) not in names:
                names.append(str(name))
    return tuple(names)


def correctable_intents() -> list[str]:
    """Intents a lead may choose: every taxonomy intent but ``nlu_fallback``."""
    return sorted(i for i in load_taxonomy().intents if i != FALLBACK_INTENT)


def current_correction(
    session: Session, conversation_id: int, event_id: int
) -> Optional[Correction]:
    return session.scalars(
        select(Correction)
        .where(
            Correction.conversation_id == conversation_id,
            Correction.event_id == event_id,
        )
        .order_by(Correction.id.desc())
        .limit(1)
    ).first()


def record_correction(
    session: Session,
    *,
    conversation: Conversation,
    event_id: int,
    intent: str,
    annotated_text: str,
    author: DashboardUser,
    now: Optional[datetime] = None,
) -> Correction:
    """Store a lead's correction of one user turn; the caller commits."""
    turn = session.scalars(
        select(ConversationTurn).where(
            ConversationTurn.conversation_id == conversation.id,
            ConversationTurn.event_id == event_id,
        )
    ).first()
    if turn is None or turn.kind is not TurnKind.USER:
        raise CorrectionError("only a user message can be corrected")
    if turn.input_kind is not InputKind.TYPED:
        raise CorrectionError(
            "a button click or a form answer is not an intent prediction; "
            "only typed messages can be corrected"
        )
    if intent not in correctable_intents():
        raise CorrectionError(f"unknown intent {intent!r}")
    text = turn.text or ""
    annotated_text = annotated_text.strip() or text
    plain, entities = parse_annotated(annotated_text)
    if plain != text:
        raise CorrectionError(
            "the text without the [value](entity) marks must be the user's text, "
            "unchanged"
        )
    known = set(domain_entities())
    unknown = sorted({e.entity for e in entities} - known)
    if unknown:
        raise CorrectionError("unknown entity: " + ", ".join(unknown))
    previous = current_correction(session, conversation.id, event_id)
    correction = Correction(
        conversation_id=conversation.id,
        event_id=event_id,
        text=redact(text),
        intent=intent,
        entities=[e.as_dict() for e in entities],
        predicted_intent=turn.intent,
        author_id=author.id,
        author_email=author.email,
        created_at=now or utcnow(),
        supersedes_id=previous.id if previous else None,
    )
    session.add(correction)
    session.flush()
    refresh_summary(session, conversation)
    return correction


def current_corrections_all(session: Session) -> list[Correction]:
    """The newest correction of every corrected turn, oldest first."""
    newest = (
        select(func.max(Correction.id))
        .group_by(Correction.conversation_id, Correction.event_id)
        .scalar_subquery()
    )
    return list(
        session.scalars(
            select(Correction).where(Correction.id.in_(newest)).order_by(Correction.id)
        )
    )


def corrections_history(session: Session, *, limit: int = 200) -> list[Correction]:
    """Every correction, newest first (the audit trail)."""
    return list(
        session.scalars(select(Correction).order_by(Correction.id.desc()).limit(limit))
    )


def export_nlu_yaml(corrections: Iterable[Correction], *, generated: datetime) -> str:
    """Current corrections as Rasa 3 NLU training data (``version: "3.1"``)."""
    by_intent: dict[str, list[str]] = {}
    count = 0
    for correction in corrections:
        example = " ".join(annotate(correction.text, correction.entities).split())
        if not example:
            continue
        examples = by_intent.setdefault(correction.intent, [])
        if example not in examples:
            examples.append(example)
            count += 1
    lines = [
        "# NLU examples from the review dashboard's corrections (newest correction",
        "# of each turn). Review, then add them to data/nlu/<topic>.yml.",
        f"# Generated {generated.isoformat(timespec='seconds')}: {count} examples.",
        'version: "3.1"',
    ]
    if not by_intent:
        lines.append("nlu: []")
        return "\n".join(lines) + "\n"
    lines.append("nlu:")
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {example}" for example in sorted(by_intent[intent]))
    return "\n".join(lines) + "\n"
