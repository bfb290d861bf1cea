"""`/api/v1/nlu` without a running Rasa: input checks, errors, and the mapping of a
parse result through the taxonomy (the real parse is tested in tests/e2e)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.domain.services.nlu import (
    InvalidUtterance,
    NluUnavailable,
    clean_text,
    interpret,
)
from api.settings import get_settings
from tests.e2e.stack import free_port


def test_rasa_down_is_a_503_with_a_reason(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    reply = client.post("/api/v1/nlu/classify", json={"text": "hello"})
    assert reply.status_code == 503
    assert reply.json() == {
        "error": "unavailable",
        "detail": "Rasa did not answer (ConnectError); is it running?",
    }


def test_classify_needs_the_token(anonymous: TestClient) -> None:
    assert (
        anonymous.post("/api/v1/nlu/classify", json={"text": "hi"}).status_code == 401
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "text is empty"),
        ("  \t ", "text is empty"),
        ("a" * 2001, "limit is 2000"),
        ("nul\x00here", "control characters"),
        ("half \ud800 pair", "unpaired surrogates"),
    ],
)
def test_clean_text_refuses(text: str, problem: str) -> None:
    with pytest.raises(InvalidUtterance, match=problem):
        clean_text(text)


def test_clean_text_keeps_what_is_typed() -> None:
    assert clean_text("  Rechnung für März? €120\n") == "Rechnung für März? €120"


def test_low_confidence_reports_the_best_real_guess() -> None:
    parse = {
        "intent": {"name": "nlu_fallback", "confidence": 0.4},
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.4},
            {"name": "request_refund", "confidence": 0.31},
        ],
        "entities": [
            {"entity": "amount", "value": "$20", "start": 3, "end": 6},
            {"value": "no entity name"},
            "garbage",
        ],
    }
    result = interpret("I want $20 back", parse)
    assert (result.topic, result.triage) == ("refund", "commercial")
    assert (result.intent, result.confidence) == ("request_refund", 0.31)
    assert result.low_confidence
    assert [e.entity for e in result.entities] == ["amount"]


def test_fallback_without_a_ranking_is_out_of_scope() -> None:
    result = interpret("zzz", {"intent": {"name": "nlu_fallback", "confidence": 0.3}})
    assert (result.topic, result.triage, result.intent) == (
        "out_of_scope",
        "none",
        "nlu_fallback",
    )
    assert result.low_confidence


def test_a_confident_intent_is_not_low_confidence() -> None:
    parse = {"intent": {"name": "report_technical_issue", "confidence": 0.92}}
    result = interpret("vpn down", parse)
    assert (result.topic, result.triage) == ("technical_issue", "technical")
    assert not result.low_confidence


def test_an_intent_the_taxonomy_lacks_is_a_clear_error() -> None:
    with pytest.raises(NluUnavailable, match="retrain"):
        interpret("x", {"intent": {"name": "made_up_intent", "confidence": 0.9}})


def test_taxonomy_route(client: TestClient) -> None:
    body = client.get("/api/v1/nlu/taxonomy").json()
    assert body["triage_classes"] == ["commercial", "technical", "none"]
    by_topic = {t["topic"]: t for t in body["topics"]}
    assert by_topic["payment"]["triage"] == "commercial"
    assert "nlu_fallback" in by_topic["out_of_scope"]["intents"]


def test_production_refuses_the_default_service_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    from api.settings import LOCAL_SECRET_DEFAULTS, Settings

    strong = "s" * 40
    for name in LOCAL_SECRET_DEFAULTS:
        monkeypatch.setenv(name.upper(), strong)
    monkeypatch.setenv("APP_MODE", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@localhost/db")
    assert Settings().api_service_token == strong
    monkeypatch.setenv("API_SERVICE_TOKEN", "dev-service-token")
    with pytest.raises(ValidationError, match="API_SERVICE_TOKEN"):
        Settings()
