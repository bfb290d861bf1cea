"""Rules applied after the intent classifier, where the message's shape settles it.

``NluRules`` sits right after ``TfidfIntentClassifier`` in ``config.yml`` (before the
``FallbackClassifier``, so a rule's confidence also keeps the message out of the
fallback). It does three small things the statistical parts cannot do well:

1. **A message that is nothing but an identifier** -- an invoice or credit-note number
   ("G000024178", "g-000 024 178"), or a ticket id ("CSP-000012"), with at most a few
   filler words ("show me", "please", "what about", "?") -- gets the intent that looks
   it up (``ask_invoice`` / ``ask_ticket_status``) with a high confidence. A bare
   number carries no words for the classifier to learn from, so it answered with
   whatever intent its character n-grams happened to resemble. The classifier's other
   intents stay in the ranking, scaled into what is left. A sentence that merely
   contains a number ("G000024178 is wrong") keeps the classifier's intent.
2. **Rule entities get their normalised value.** The spaCy patterns for ``aspect`` and
   ``invoice_ref`` (``bot/patterns/*.jsonl``) carry the value in their ``id``; Rasa's
   extractor reports the text as typed ("are you open on weekends"), so the value is
   replaced by that id ("weekend"). The typed text stays readable at the entity's
   ``start``/``end`` in the message (e.g. which currency "euros" names).
3. **Japanese** (a message with kana or Chinese characters): the spaCy pipeline,
   which splits on spaces, finds little in it; ``bot.japanese`` adds its invoice and
   ticket numbers (full-width too: ``Ｇ００００２４１９５``), amounts (円, ¥), billing
   periods (先月, 2026年4月, 第3四半期) and products (English and katakana names), and a
   message of identifiers and Japanese filler words ("請求書 G000024195") gets the
   look-up intent like its English counterpart.
4. **Identifiers typed with separators** ("g-000 024 178", "csp 000012"), which the
   spaCy patterns do not see as one token, become one ``invoice_number`` /
   ``ticket_id`` entity written the usual way ("G000024178", "CSP-000012").
4. **A charge billed twice is a dispute**, not a refund of a subscription nor a
   list of credit notes: "you charged us twice for Teams Phone, I want my money
   back" and "were we ever credited for the double charge?" get ``dispute_charge``
   (the dispute finds the credit note that already corrected it, or disputes the
   invoice; actions/disputes.py).
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.japanese import is_japanese, japanese_entities, only_filler

# The separators people type inside a number: a space, a hyphen or a dot, one at a
# time. Nine digits in all after D or G (DOMAIN.md: every invoice number Microsoft
# documents is [DG] + 9 digits; bot/spacy_pipeline.py finds the unseparated form).
INVOICE_TYPED = re.compile(
    r"(?<![\w-])(?P<series>[dg])[ .-]?(?P<digits>(?:\d[ .-]?){8}\d)(?![ .-]?\d)(?!\w)",
    re.IGNORECASE,
)
TICKET_TYPED = re.compile(
    r"(?<![\w-])csp[ -]?(?P<digits>\d{4,8})(?![\w-])", re.IGNORECASE
)

# Words that may stand beside an identifier without making the message a sentence
# about something else: "show me G000024178 please", "what about CSP-000012?",
# "can you check invoice G000024135", "sorry, I meant G000024195". Anything else ("pay", "wrong", "refund",
# "credit", "status": paid or not is ask_payment_status) leaves the decision to the
# classifier.
FILLER_WORDS = frozenset(
    # a word list reads better as text than as seventy quoted strings
    """
    a about also an and any are can check could details do find for get give have
    hello hey hi how i id is it look me my no nr number of ok okay on one open please
    plz pls pull ref reference see send show so that the then this to up want
    what whats what's with you
    invoice invoices bill ticket tickets case
    sorry oops meant mean actually instead rather typo oh ah i'm im it's its
    """.split()  # noqa: SIM905
)
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
LEFTOVER = re.compile(r"[^\W_]")  # a letter or digit that is not part of a word above

NORMALISED_LABELS = ("aspect", "invoice_ref")

# "charged twice", "double billed", "a duplicate charge": said with a refund or a
# credit, it is still a dispute about the charge.
DOUBLE_CHARGE = re.compile(
    r"\b(?:(?:charged|billed|invoiced|charging|billing|paid|paying)\s+(?:\w+\s+){0,5}?"
    r"(?:twice|two times|2 times|double)|double[- ]?(?:charged|charge|billed|"
    r"billing)|duplicated?\s+(?:charge|line|billing|invoice)|charged us twice|"
    r"twice\s+(?:charged|billed))\b",
    re.IGNORECASE,
)
DOUBLE_CHARGE_FROM = frozenset({"request_refund", "ask_credit_note"})
DOUBLE_CHARGE_INTENT = "dispute_charge"


def _invoice_number(match: re.Match[str]) -> str:
    return match["series"].upper() + re.sub(r"\D", "", match["digits"])


def _ticket_id(match: re.Match[str]) -> str:
    return f"CSP-{match['digits']}"


# entity, how it is typed, how it is written
IDENTIFIERS = (
    ("invoice_number", INVOICE_TYPED, _invoice_number),
    ("ticket_id", TICKET_TYPED, _ticket_id),
)


def _identifier_intent(text: str, config: dict[str, Any]) -> str | None:
    """The look-up intent when ``text`` is only identifiers of one kind and filler."""
    if is_japanese(text):
        return _japanese_identifier_intent(text, config)
    invoices = list(INVOICE_TYPED.finditer(text))
    tickets = list(TICKET_TYPED.finditer(text))
    if bool(invoices) == bool(tickets):  # none, or both kinds: not for a rule
        return None
    rest = INVOICE_TYPED.sub(" ", TICKET_TYPED.sub(" ", text)).lower()
    words = WORD.findall(rest)
    if any(word not in FILLER_WORDS for word in words):
        return None
    if LEFTOVER.search(WORD.sub(" ", rest)):  # another number, e.g. "G000024178 x 3"
        return None
    return str(config["invoice_intent"] if invoices else config["ticket_intent"])


def _double_charge(message: Message, text: str) -> bool:
    """A refund or credit-note question about a charge billed twice."""
    intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
    return intent in DOUBLE_CHARGE_FROM and DOUBLE_CHARGE.search(text) is not None


def _japanese_identifier_intent(text: str, config: dict[str, Any]) -> str | None:
    found = japanese_entities(text)
    kinds = {f.entity for f in found}
    if kinds not in ({"invoice_number"}, {"ticket_id"}):
        return None
    chars = list(text)
    for item in found:
        chars[item.start : item.end] = [" "] * (item.end - item.start)
    if not only_filler("".join(chars)):
        return None
    return str(
        config["invoice_intent"]
        if "invoice_number" in kinds
        else config["ticket_intent"]
    )


def with_rule_intent(message: Message, intent: str, confidence: float) -> None:
    """Put ``intent`` first; the classifier's other intents share the rest."""
    ranking = [
        dict(entry)
        for entry in message.get(INTENT_RANKING_KEY) or []
        if entry.get(INTENT_NAME_KEY) != intent
    ]
    others = sum(float(entry[PREDICTED_CONFIDENCE_KEY]) for entry in ranking)
    scale = (1.0 - confidence) / others if others > 0 else 0.0
    for entry in ranking:
        entry[PREDICTED_CONFIDENCE_KEY] = float(entry[PREDICTED_CONFIDENCE_KEY]) * scale
    top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: confidence}
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=False,
)
class NluRules(GraphComponent):
    """Identifier-only messages, pattern ids as entity values, separated ids."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # the intent a message of invoice/credit-note numbers gets
            "invoice_intent": "ask_invoice",
            # the intent a message of ticket ids gets
            "ticket_intent": "ask_ticket_status",
            # its confidence: well above the FallbackClassifier's threshold; the
            # classifier's other intents share the remainder
            "confidence": 0.95,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = {**self.get_default_config(), **config}
        confidence = float(self.config["confidence"])
        if not 0.0 < confidence <= 1.0:
            raise ValueError(
                f"NluRules: confidence must be in (0, 1], not {confidence}"
            )

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NluRules:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if not text.strip():
                continue
            self._normalise_entities(message)
            if is_japanese(text):
                self._add_japanese_entities(message, text)
            else:
                self._add_separated_identifiers(message, text)
            intent = _identifier_intent(text, self.config)
            if intent is not None:
                with_rule_intent(message, intent, float(self.config["confidence"]))
            elif _double_charge(message, text):
                confidence = float((message.get(INTENT) or {}).get("confidence") or 0)
                with_rule_intent(
                    message,
                    DOUBLE_CHARGE_INTENT,
                    max(confidence, float(self.config["confidence"])),
                )
        return messages

    @staticmethod
    def _normalise_entities(message: Message) -> None:
        entities = message.get(ENTITIES) or []
        doc = message.get(SPACY_DOCS[TEXT])
        if doc is None or not any(
            e.get(ENTITY_ATTRIBUTE_TYPE) in NORMALISED_LABELS for e in entities
        ):
            return
        ids = {
            (ent.label_, ent.start_char, ent.end_char): ent.ent_id_
            for ent in doc.ents
            if ent.ent_id_
        }
        for entity in entities:
            key = (
                entity.get(ENTITY_ATTRIBUTE_TYPE),
                entity.get(ENTITY_ATTRIBUTE_START),
                entity.get(ENTITY_ATTRIBUTE_END),
            )
            if key[0] in NORMALISED_LABELS and key in ids:
                entity[ENTITY_ATTRIBUTE_VALUE] = ids[key]
                entity.setdefault("processors", []).append(NluRules.__name__)

    @staticmethod
    def _add_japanese_entities(message: Message, text: str) -> None:
        entities = list(message.get(ENTITIES) or [])
        spans = [
            (e[ENTITY_ATTRIBUTE_START], e[ENTITY_ATTRIBUTE_END])
            for e in entities
            if isinstance(e.get(ENTITY_ATTRIBUTE_START), int)
        ]
        added = False
        for found in japanese_entities(text):
            if any(s < found.end and found.start < e for s, e in spans):
                continue  # the spaCy pipeline has it already
            entities.append(
                {
                    ENTITY_ATTRIBUTE_TYPE: found.entity,
                    ENTITY_ATTRIBUTE_VALUE: found.value,
                    ENTITY_ATTRIBUTE_START: found.start,
                    ENTITY_ATTRIBUTE_END: found.end,
                    EXTRACTOR: NluRules.__name__,
                }
            )
            added = True
        if added:
            entities.sort(key=lambda e: int(e.get(ENTITY_ATTRIBUTE_START) or 0))
            message.set(ENTITIES, entities, add_to_output=True)

    @staticmethod
    def _add_separated_identifiers(message: Message, text: str) -> None:
        entities = list(message.get(ENTITIES) or [])
        added = False
        for label, typed, written in IDENTIFIERS:
            found = [
                (e[ENTITY_ATTRIBUTE_START], e[ENTITY_ATTRIBUTE_END])
                for e in entities
                if e.get(ENTITY_ATTRIBUTE_TYPE) == label
            ]
            for match in typed.finditer(text):
                start, end = match.span()
                if any(s < end and start < e for s, e in found):
                    continue  # the spaCy pipeline has it already
                entities.append(
                    {
                        ENTITY_ATTRIBUTE_TYPE: label,
                        ENTITY_ATTRIBUTE_VALUE: written(match),
                        ENTITY_ATTRIBUTE_START: start,
                        ENTITY_ATTRIBUTE_END: end,
                        EXTRACTOR: NluRules.__name__,
                    }
                )
                added = True
        if added:
            message.set(ENTITIES, entities, add_to_output=True)
