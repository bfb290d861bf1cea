"""Classify an utterance: topic, triage, intent and entities, from the trained model.

The understanding is Rasa's own: every call goes to the running Rasa server's
`POST /model/parse?token=RASA_AUTH_TOKEN` (the model the conversation uses), and the
intent is mapped to a topic and a triage class by `common/taxonomy.yml`, the one table
of that mapping. Nothing is stored: `/model/parse` does not touch a tracker.

    classifier = NluClassifier.from_settings()
    result = classifier.classify("why is my invoice higher this month")
    result.topic, result.triage, result.confidence   # "charge_explanation", ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import httpx

from api.settings import get_settings
from common.taxonomy import FALLBACK_INTENT, TaxonomyError, load_taxonomy

MAX_TEXT_CHARS = 2000  # the same cap as a chat message in the channels
TIMEOUT_SECONDS = 10.0


class NluError(Exception):
    """Base class of what `classify` can raise."""


class InvalidUtterance(NluError):
    """The text cannot be classified (empty, too long, control characters)."""


class NluUnavailable(NluError):
    """Rasa did not answer, refused the token, or answered something unexpected."""


@dataclass(frozen=True)
class Entity:
    entity: str
    value: Any
    start: Optional[int]
    end: Optional[int]
    extractor: Optional[str]


@dataclass(frozen=True)
class Classification:
    text: str
    topic: str
    triage: str
    confidence: float
    intent: str
    entities: list[Entity] = field(default_factory=list)
    # Below the fallback threshold: the bot would not act on the intent but ask the
    # user to confirm it (two-stage fallback). Topic and intent are still the
    # model's best guess.
    low_confidence: bool = False


def clean_text(text: str) -> str:
    """The utterance as it will be parsed, or `InvalidUtterance` saying why not."""
    if not isinstance(text, str):
        raise InvalidUtterance("text must be a string")
    stripped = text.strip()
    if not stripped:
        raise InvalidUtterance("text is empty")
    if len(stripped) > MAX_TEXT_CHARS:
        raise InvalidUtterance(
            f"text is {len(stripped)} characters long; the limit is {MAX_TEXT_CHARS}"
        )
    if any(ord(ch) < 32 and ch not in "\t\r\n" for ch in stripped):
        raise InvalidUtterance("text contains control characters")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in stripped):
        raise InvalidUtterance("text contains unpaired surrogates (not valid unicode)")
    return stripped


def _entities(raw: Any) -> list[Entity]:
    found: list[Entity] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not item.get("entity"):
            continue
        found.append(
            Entity(
                entity=str(item["entity"]),
                value=item.get("value"),
                start=item.get("start"),
                end=item.get("end"),
                extractor=item.get("extractor"),
            )
        )
    return found


def _confidence(ranked: dict[str, Any]) -> float:
    try:
        return float(ranked.get("confidence") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def interpret(text: str, parse: dict[str, Any]) -> Classification:
    """Turn Rasa's parse result into a classification, through the taxonomy."""
    taxonomy = load_taxonomy()
    raw_intent = parse.get("intent")
    intent: dict[str, Any] = raw_intent if isinstance(raw_intent, dict) else {}
    name = str(intent.get("name") or FALLBACK_INTENT)
    confidence = _confidence(intent)
    low_confidence = name == FALLBACK_INTENT
    if low_confidence:
        # Rasa's FallbackClassifier put nlu_fallback on top; the ranking below it
        # still holds the model's best real guess, which is what we report (the bot
        # asks the user to confirm that same guess).
        for ranked in parse.get("intent_ranking") or []:
            candidate = ranked.get("name") if isinstance(ranked, dict) else None
            if candidate and candidate != FALLBACK_INTENT:
                name, confidence = str(candidate), _confidence(ranked)
                break
    try:
        topic = taxonomy.topic_for_intent(name)
    except TaxonomyError as exc:
        raise NluUnavailable(
            f"the model predicted {name!r}, which common/taxonomy.yml does not know; "
            "retrain the model from this version of the data"
        ) from exc
    return Classification(
        text=text,
        topic=topic,
        triage=taxonomy.triage_for_topic(topic),
        confidence=round(confidence, 4),
        intent=name,
        entities=_entities(parse.get("entities")),
        low_confidence=low_confidence,
    )


class NluClassifier:
    """Calls Rasa's parse endpoint; one HTTP client, reused across calls."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = TIMEOUT_SECONDS,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/model/parse"
        self.token = token
        self._client = httpx.Client(timeout=timeout, transport=transport)

    @classmethod
    def from_settings(cls) -> NluClassifier:
        settings = get_settings()
        return cls(settings.rasa_url, settings.rasa_auth_token)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> NluClassifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def parse(self, text: str) -> dict[str, Any]:
        """Rasa's raw parse result of an already cleaned text."""
        try:
            response = self._client.post(
                self.url, params={"token": self.token}, json={"text": text}
            )
        except httpx.HTTPError as exc:
            raise NluUnavailable(
                f"Rasa did not answer ({type(exc).__name__}); is it running?"
            ) from exc
        if response.status_code in (401, 403):
            raise NluUnavailable("Rasa refused the RASA_AUTH_TOKEN")
        if response.status_code == 409:
            raise NluUnavailable("Rasa has no trained model loaded")
        if not response.is_success:
            raise NluUnavailable(f"Rasa answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise NluUnavailable("Rasa's answer is not JSON") from exc
        if not isinstance(body, dict):
            raise NluUnavailable("Rasa's answer is not an object")
        return body

    def classify(self, text: str) -> Classification:
        """Topic, triage, confidence, intent and entities of one utterance."""
        cleaned = clean_text(text)
        return interpret(cleaned, self.parse(cleaned))

    def classify_many(
        self, texts: Iterable[str]
    ) -> Iterator[Classification | NluError]:
        """Each text's classification, or the `InvalidUtterance` that refused it.

        `NluUnavailable` is raised, not yielded: with Rasa down no row can succeed.
        """
        for text in texts:
            try:
                yield self.classify(text)
            except InvalidUtterance as exc:
                yield exc
