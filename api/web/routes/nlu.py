"""`/api/v1/nlu`: classify an utterance, and the taxonomy it is classified into.

`POST /api/v1/nlu/classify` asks the running Rasa server's parse endpoint (the same
model the conversation uses) and maps the predicted intent to a topic and a triage
class through `common/taxonomy.yml`. `GET /api/v1/nlu/taxonomy` returns that table.
Both need the service token. Nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from api.domain.services.nlu import (
    MAX_TEXT_CHARS,
    InvalidUtterance,
    NluClassifier,
    NluUnavailable,
)
from api.web.errors import error_responses, unprocessable
from common.taxonomy import load_taxonomy

router = APIRouter(prefix="/nlu", tags=["nlu"])

Triage = Literal["commercial", "technical", "none"]


class ClassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="One user message, as typed.",
        examples=["Why is invoice G012345678 higher than last month?"],
    )


class EntityOut(BaseModel):
    entity: str = Field(description="invoice_number, subscription_id, amount, ...")
    value: Any
    start: Optional[int] = None
    end: Optional[int] = None
    extractor: Optional[str] = Field(
        default=None, description="The pipeline component that found it."
    )


class ClassifyOut(BaseModel):
    topic: str = Field(description="One of the taxonomy's topics.")
    triage: Triage
    confidence: float = Field(
        ge=0.0, le=1.0, description="Confidence of the predicted intent."
    )
    intent: str = Field(description="The model's best intent (finer than the topic).")
    entities: list[EntityOut]
    low_confidence: bool = Field(
        description=(
            "Confidence is below the fallback threshold of config.yml: in a "
            "conversation the bot would ask the user to confirm this intent "
            "before acting on it."
        )
    )


class TopicOut(BaseModel):
    topic: str
    triage: Triage
    intents: list[str]


class TaxonomyOut(BaseModel):
    triage_classes: list[str]
    topics: list[TopicOut]


def get_classifier() -> Iterator[NluClassifier]:
    """A classifier for this request (tests override it)."""
    with NluClassifier.from_settings() as classifier:
        yield classifier


ClassifierDep = Annotated[NluClassifier, Depends(get_classifier)]


@router.post(
    "/classify",
    response_model=ClassifyOut,
    responses=error_responses(
        described={
            422: "Empty, too long or not valid text.",
            503: "Rasa is not running or has no model.",
        }
    ),
)
def classify(body: ClassifyIn, classifier: ClassifierDep) -> ClassifyOut:
    """Topic, triage (`commercial` | `technical` | `none`), confidence, intent and
    entities of one utterance."""
    try:
        result = classifier.classify(body.text)
    except InvalidUtterance as exc:
        raise unprocessable("body.text", str(exc)) from exc
    except NluUnavailable as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)
        ) from exc
    return ClassifyOut(
        topic=result.topic,
        triage=result.triage,
        confidence=min(max(result.confidence, 0.0), 1.0),
        intent=result.intent,
        entities=[EntityOut(**vars(entity)) for entity in result.entities],
        low_confidence=result.low_confidence,
    )


@router.get("/taxonomy", response_model=TaxonomyOut)
def taxonomy() -> TaxonomyOut:
    """Every topic with its triage class and the intents that map to it."""
    table = load_taxonomy()
    return TaxonomyOut(
        triage_classes=list(table.triage_classes),
        topics=[
            TopicOut(
                topic=topic,
                triage=triage,
                intents=[i for i, t in table.intent_topic.items() if t == topic],
            )
            for topic, triage in table.topic_triage.items()
        ],
    )
