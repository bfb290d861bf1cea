"""End to end: `POST /api/v1/nlu/classify` and `csp-desk classify` against
the real Rasa server of a running stack (the understanding the conversation uses)."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from common.taxonomy import load_taxonomy
from tests.e2e.stack import CSP_DESK, ROOT, Stack, start_stack, stop_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("nlu-stack"))
    yield running
    stop_stack(running)


def classify(stack: Stack, body: object, token: str | None = None) -> httpx.Response:
    token = stack.env["API_SERVICE_TOKEN"] if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{stack.api_url}/api/v1/nlu/classify", json=body, headers=headers, timeout=30
    )


def test_classify_a_billing_question_with_entities(stack: Stack) -> None:
    reply = classify(stack, {"text": "Can you send me invoice G000024135 as a PDF?"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) >= {"topic", "triage", "confidence", "intent", "entities"}
    assert body["low_confidence"] is False
    assert body["topic"] == "invoice_lookup"
    assert body["triage"] == "commercial"
    assert 0.0 < body["confidence"] <= 1.0
    assert body["intent"] in load_taxonomy().intents
    found = {(e["entity"], e["value"]) for e in body["entities"]}
    assert ("invoice_number", "G000024135") in found


def test_classify_a_technical_problem(stack: Stack) -> None:
    reply = classify(
        stack, {"text": "Outlook crashes every time I open a shared mailbox"}
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["topic"], body["triage"]) == ("technical_issue", "technical")
    assert any(e["entity"] == "product" for e in body["entities"])


def test_topic_and_triage_agree_with_the_taxonomy(stack: Stack) -> None:
    taxonomy = load_taxonomy()
    for text in ("hi", "I want a refund for the seats we removed", "lol what"):
        body = classify(stack, {"text": text}).json()
        assert body["topic"] == taxonomy.topic_for_intent(body["intent"])
        assert body["triage"] == taxonomy.triage_for_topic(body["topic"])


def test_a_nul_byte_is_refused_before_anything_reads_it(stack: Stack) -> None:
    reply = classify(stack, {"text": "bad \x00 byte"})
    assert reply.status_code == 400
    assert "NUL" in reply.json()["detail"]


def test_classify_needs_the_service_token(stack: Stack) -> None:
    assert classify(stack, {"text": "hello"}, token="").status_code == 401
    assert classify(stack, {"text": "hello"}, token="wrong-token").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   \n  "},
        {"text": "x" * 5000},
        {"text": "bell \x07 rings"},
        {"text": 42},
        {},
        {"text": "hello", "extra": 1},
    ],
    ids=["empty", "blank", "too-long", "control", "not-a-string", "missing", "extra"],
)
def test_bad_input_gets_a_clear_422(stack: Stack, body: object) -> None:
    reply = classify(stack, body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "validation_error"
    assert reply.json()["detail"][0]["problem"]


def test_taxonomy_endpoint_lists_every_topic(stack: Stack) -> None:
    reply = httpx.get(
        f"{stack.api_url}/api/v1/nlu/taxonomy",
        headers={"Authorization": f"Bearer {stack.env['API_SERVICE_TOKEN']}"},
        timeout=10,
    )
    assert reply.status_code == 200
    topics = {t["topic"]: t for t in reply.json()["topics"]}
    assert set(topics) == set(load_taxonomy().topics)
    assert topics["technical_issue"]["triage"] == "technical"
    assert "report_technical_issue" in topics["technical_issue"]["intents"]


def test_classify_is_in_the_openapi_schema(stack: Stack) -> None:
    schema = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    operation = schema["paths"]["/api/v1/nlu/classify"]["post"]
    assert operation["security"], "the route must declare the bearer token"
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response["$ref"].endswith("/ClassifyOut")


def test_cli_classifies_a_csv(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "triage"])
        writer.writerow(["1", "my Teams calls keep dropping", "technical"])
        writer.writerow(["2", "why is this month's bill higher?", "commercial"])
        writer.writerow(["3", "", "none"])
    target = tmp_path / "out.csv"
    done = subprocess.run(
        [CSP_DESK, "classify", str(source), "-o", str(target)],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["predicted_triage"] == "technical"
    assert rows[1]["predicted_topic"] == "charge_explanation"
    assert rows[2]["error"] == "text is empty" and rows[2]["predicted_topic"] == ""
    assert "3 rows, 1 not classified" in done.stderr
    assert "triage agrees on 2/2" in done.stderr


def test_cli_says_clearly_when_rasa_is_down(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("text\nhello\n", encoding="utf-8")
    env = {**stack.env, "RASA_URL": "http://127.0.0.1:9"}
    done = subprocess.run(
        [CSP_DESK, "classify", str(source)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Rasa did not answer" in done.stderr
    assert "Traceback" not in done.stderr
