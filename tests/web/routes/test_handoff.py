"""/api/v1/handoff/{conversation_id}: an agent answers a paused conversation and
hands it back, against a fake of Rasa's HTTP API (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from api.domain.db import get_sessionmaker
from api.domain.models import Partner, PartnerUser
from api.domain.services.handoff import (
    RasaConversations,
    RasaUnavailable,
    agent_message_event,
    resumed_text,
)
from api.web.routes.handoff import get_rasa
from tests.web.conftest import TestClient

RASA_TOKEN = "rasa-token-for-tests"


@dataclass
class FakeRasa:
    """Trackers by conversation id; applies pause/resume like Rasa does."""

    trackers: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[httpx.Request] = field(default_factory=list)
    down: bool = False

    def handoff(self, conversation_id: str, partner_id: int) -> None:
        self.trackers[conversation_id] = {
            "sender_id": conversation_id,
            "paused": True,
            "slots": {"handoff_partner_id": str(partner_id)},
            "latest_input_channel": "socketio",
            "events": [{"event": "pause"}],
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused")
        if request.url.params.get("token") != RASA_TOKEN:
            return httpx.Response(401, json={"message": "no"})
        path = request.url.raw_path.decode().split("?")[0]
        parts = path.split("/")  # ["", "conversations", id, "tracker", ("events")]
        conversation_id = unquote(parts[2])
        tracker = self.trackers.get(
            conversation_id,
            {
                "sender_id": conversation_id,
                "paused": False,
                "slots": {},
                "latest_input_channel": None,
                "events": [],
            },
        )
        if request.method == "GET":
            return httpx.Response(200, json=tracker)
        for event in json.loads(request.content):
            tracker["events"].append(event)
            if event["event"] == "resume":
                tracker["paused"] = False
            if event["event"] == "pause":
                tracker["paused"] = True
        self.trackers[conversation_id] = tracker
        return httpx.Response(200, json=tracker)

    def client(self) -> RasaConversations:
        return RasaConversations(
            "http://rasa.test", RASA_TOKEN, transport=httpx.MockTransport(self.handler)
        )


@pytest.fixture
def rasa(app: FastAPI) -> Iterator[FakeRasa]:
    fake = FakeRasa()
    app.dependency_overrides[get_rasa] = fake.client
    yield fake
    app.dependency_overrides.pop(get_rasa, None)


def ids() -> dict[str, int]:
    with get_sessionmaker()() as session:
        found = {p.slug: p.id for p in session.scalars(select(Partner))}
        found |= {u.email: u.id for u in session.scalars(select(PartnerUser))}
    return found


DIEGO = "diego.siciliani@northwindtraders.com"
ADELE = "adele.vance@fabrikam.com"
LYNNE = "lynne.robbins@northwindtraders.com"


def test_the_service_token_is_required(anonymous: TestClient) -> None:
    assert anonymous.get("/api/v1/handoff/c1").status_code == 401
    assert (
        anonymous.post("/api/v1/handoff/c1/messages", json={"text": "hi"}).status_code
        == 401
    )
    assert anonymous.post("/api/v1/handoff/c1/resume").status_code == 401


def test_an_agent_answers_then_hands_back(client: TestClient, rasa: FakeRasa) -> None:
    known = ids()
    rasa.handoff("conv-1", known["northwind"])

    state = client.get("/api/v1/handoff/conv-1")
    assert state.status_code == 200
    assert state.json()["paused"] is True
    assert state.json()["partner_id"] == known["northwind"]

    sent = client.post(
        "/api/v1/handoff/conv-1/messages",
        json={"text": "Hi, this is Dana from billing.", "agent": "Dana"},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["agent"] == "Dana"
    agent_event = rasa.trackers["conv-1"]["events"][-1]
    assert agent_event["event"] == "bot"
    assert agent_event["data"]["custom"] == {
        "from": "agent",
        "name": "Dana",
        "text": "Hi, this is Dana from billing.",
    }
    assert agent_event["metadata"] == {"agent": "Dana"}
    post = rasa.calls[-1]
    assert post.url.path == "/conversations/conv-1/tracker/events"
    assert post.url.params["output_channel"] == "latest"
    assert post.url.params["execute_side_effects"] == "true"

    resumed = client.post("/api/v1/handoff/conv-1/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    kinds = [e["event"] for e in rasa.trackers["conv-1"]["events"][-3:]]
    assert kinds == ["resume", "bot", "action"]
    assert rasa.trackers["conv-1"]["events"][-2]["text"] == resumed_text()
    assert rasa.trackers["conv-1"]["events"][-1]["name"] == "action_listen"

    again = client.post(
        "/api/v1/handoff/conv-1/messages", json={"text": "hello?", "agent": "Dana"}
    )
    assert again.status_code == 409
    assert client.post("/api/v1/handoff/conv-1/resume").status_code == 409


def test_a_conversation_never_handed_off_is_not_found(
    client: TestClient, rasa: FakeRasa
) -> None:
    assert client.get("/api/v1/handoff/unknown").status_code == 404
    response = client.post(
        "/api/v1/handoff/unknown/messages", json={"text": "hi", "agent": "Dana"}
    )
    assert response.status_code == 404
    assert all(call.method == "GET" for call in rasa.calls)  # nothing appended


def test_the_agent_must_be_named(client: TestClient, rasa: FakeRasa) -> None:
    rasa.handoff("conv-2", ids()["northwind"])
    response = client.post("/api/v1/handoff/conv-2/messages", json={"text": "hi"})
    assert response.status_code == 422
    assert (
        client.post(
            "/api/v1/handoff/conv-2/messages", json={"text": "", "agent": "Dana"}
        ).status_code
        == 422
    )


def test_on_behalf_of_a_partner_user_of_that_partner(
    client: TestClient, rasa: FakeRasa
) -> None:
    known = ids()
    rasa.handoff("conv-3", known["northwind"])
    as_diego = {"on_behalf_of": known[DIEGO]}
    sent = client.post(
        "/api/v1/handoff/conv-3/messages", params=as_diego, json={"text": "Hello!"}
    )
    assert sent.status_code == 200
    assert sent.json()["agent"] == "Diego Siciliani"
    as_adele = {"on_behalf_of": known[ADELE]}  # Fabrikam: not their conversation
    hidden = client.post(
        "/api/v1/handoff/conv-3/messages", params=as_adele, json={"text": "Hello!"}
    )
    assert hidden.status_code == 404
    assert (
        client.post("/api/v1/handoff/conv-3/resume", params=as_adele).status_code == 404
    )
    as_lynne = {"on_behalf_of": known[LYNNE]}  # sales agent: may not answer chats
    refused = client.post(
        "/api/v1/handoff/conv-3/messages", params=as_lynne, json={"text": "Hi"}
    )
    assert refused.status_code == 403


def test_rasa_down_is_503(client: TestClient, rasa: FakeRasa) -> None:
    rasa.down = True
    response = client.post(
        "/api/v1/handoff/conv-4/messages", json={"text": "hi", "agent": "Dana"}
    )
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"


def test_conversation_ids_are_quoted_into_rasas_path(rasa: FakeRasa) -> None:
    rasa.handoff("a/../b?x=1", 1)
    state = rasa.client().state("a/../b?x=1")
    assert state.paused and state.partner_id == 1
    assert rasa.calls[-1].url.raw_path.startswith(b"/conversations/a%2F..%2Fb%3Fx%3D1/")


def test_a_wrong_rasa_token_is_unavailable(rasa: FakeRasa) -> None:
    wrong = RasaConversations(
        "http://rasa.test", "nope", transport=httpx.MockTransport(rasa.handler)
    )
    with pytest.raises(RasaUnavailable, match="RASA_AUTH_TOKEN"):
        wrong.state("conv")


def test_agent_events_are_what_the_dashboard_reads() -> None:
    event = agent_message_event("Hello", "Dana", timestamp=1.0)
    # The widget shows the payload under the agent's name (docs/channels.md).
    assert event == {
        "event": "bot",
        "text": None,
        "data": {"custom": {"from": "agent", "name": "Dana", "text": "Hello"}},
        "metadata": {"agent": "Dana"},
        "timestamp": 1.0,
    }
    from api.dashboard.ingest import AGENT_KEY

    assert AGENT_KEY in event["metadata"]


def test_the_dashboard_sees_the_handoff_and_the_agent() -> None:
    """What action_handoff (pause), the agent's message and the resume write is
    read by the review dashboard as one handoff period with an agent turn."""
    from api.dashboard.ingest import handoff_periods, turn_from_event
    from api.dashboard.models import ConversationTurn, TurnKind
    from api.dashboard.transcripts import TrackerEvent
    from api.domain.services.handoff import resume_events

    written = [
        {"event": "pause", "timestamp": 10.0},
        agent_message_event("Hi, Dana here", "Dana", timestamp=20.0),
        *resume_events(timestamp=30.0),
    ]
    rows = []
    for number, event in enumerate(written, start=1):
        row = turn_from_event(
            TrackerEvent(
                id=number,
                sender_id="conv",
                type_name=event["event"],
                timestamp=event["timestamp"],
                data=event,
            ),
            threshold=0.5,
        )
        if row is not None:
            rows.append(row)
    kinds = [row["kind"] for row in rows]
    assert kinds == [TurnKind.PAUSE, TurnKind.AGENT, TurnKind.RESUME, TurnKind.BOT]
    assert rows[1]["agent_name"] == "Dana"
    assert rows[1]["text"] == "Hi, Dana here"
    turns = [ConversationTurn(**row) for row in rows]
    [period] = handoff_periods(turns)
    assert period.end is not None and period.seconds(period.end) == 20
