"""Ticket titles and descriptions are checked at the door: a ticket titled "q", or
holding control characters (terminal escapes, bells, NUL's cousins), used to be
filed through the API. Now the request schema trims them, bounds their length and
refuses control characters (a description may keep newlines and tabs), with a 422
that says which field and why.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from api.domain.db import get_sessionmaker
from api.domain.models import Ticket
from tests.security.conftest import SERVICE_TOKEN, json_error
from tests.web.conftest import TestClient

GOOD: dict[str, Any] = {
    "partner_id": 1,
    "category": "commercial",
    "summary": "Charged twice for March",
    "description": "The March invoice lists Microsoft 365 E3 twice.",
}
AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


def tickets() -> int:
    with get_sessionmaker()() as session:
        return session.scalar(select(func.count()).select_from(Ticket)) or 0


def post(client: TestClient, **fields: Any) -> Any:
    # json.dumps escapes what UTF-8 cannot carry (a lone surrogate: "\\ud800").
    return client.post(
        "/api/v1/tickets",
        content=json.dumps({**GOOD, **fields}),
        headers={**AUTH, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("summary", "q", "at least 5 characters"),
        ("summary", "   q    ", "at least 5 characters"),  # trimmed first
        ("summary", "", "at least 5 characters"),
        ("summary", "x" * 301, "at most 300 characters"),
        ("summary", "Refund\x1b[2J\x1b[H please", "U+001B at position 6"),
        ("summary", "Two\nlines here", "U+000A"),  # a title is one line
        ("summary", "Tab\tin title", "U+0009"),
        ("summary", "bell\x07 ringing", "U+0007"),
        ("summary", "C1 control \x85 here", "U+0085"),
        ("summary", "lone \ud800 surrogate", "valid string"),  # pydantic's JSON parser
        ("description", "short", "at least 10 characters"),
        ("description", "d" * 10_001, "at most 10000 characters"),
        ("description", "A perfectly long text\x00", None),  # NUL: refused earlier
        ("description", "A perfectly long text \x1b]0;owned\x07", "U+001B"),
        ("description", "A perfectly long text \x7f", "U+007F"),
    ],
)
def test_bad_titles_and_descriptions_are_refused(
    anonymous: TestClient, field: str, value: str, problem: str | None
) -> None:
    before = tickets()
    reply = post(anonymous, **{field: value})
    body = json_error(reply)
    assert tickets() == before
    if problem is None:  # the NUL guard in front of every route answers first
        assert reply.status_code == 400
        return
    assert reply.status_code == 422, reply.text
    assert body["error"] == "validation_error"
    assert [p["where"] for p in body["detail"]] == [f"body.{field}"]
    assert problem in body["detail"][0]["problem"]


def test_text_is_trimmed_and_line_breaks_normalised(anonymous: TestClient) -> None:
    reply = post(
        anonymous,
        summary="   Charged twice for March   ",
        description="  First line\r\nsecond\tline\rthird line\n\n  ",
    )
    assert reply.status_code == 201, reply.text
    ticket = reply.json()
    assert ticket["summary"] == "Charged twice for March"
    assert ticket["description"] == "First line\nsecond\tline\nthird line"


def test_other_ticket_text_fields_refuse_control_characters(
    anonymous: TestClient,
) -> None:
    for fields in (
        {"topic": "refund\x1b"},
        {"product": "Microsoft 365\x08"},
        {"requester": "mallory\x1b[31m"},
        {"steps_tried": ["restarted", "cleared\x1b[2J"]},
        {"identifiers": {"invoice_number": ["G000024101\x07"]}},
    ):
        reply = post(anonymous, **fields)
        assert reply.status_code == 422, (fields, reply.text)
        assert json_error(reply)["detail"][0]["where"].startswith("body.")


def test_the_schema_documents_the_bounds(anonymous: TestClient) -> None:
    schema = anonymous.get("/openapi.json").json()["components"]["schemas"]
    summary = schema["TicketIn"]["properties"]["summary"]
    description = schema["TicketIn"]["properties"]["description"]
    assert (summary["minLength"], summary["maxLength"]) == (5, 300)
    assert (description["minLength"], description["maxLength"]) == (10, 10_000)
    assert "control characters" in summary["description"]


def test_an_agents_answer_refuses_control_characters(anonymous: TestClient) -> None:
    reply = anonymous.post(
        "/api/v1/handoff/conv-1/messages",
        json={"text": "Hello\x1b[2J", "agent": "Sam"},
        headers=AUTH,
    )
    assert reply.status_code == 422
    assert json_error(reply)["detail"][0]["where"] == "body.text"
