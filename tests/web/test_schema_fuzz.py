"""The API keeps the contract its OpenAPI schema states: schemathesis generates
requests for every operation from /openapi.json, valid ones and invalid ones, sends
them to the real app in-process (on a copy of the seeded demo database, with the
service token; Rasa faked as up) and checks each answer: never a 5xx, a status the
operation
documents, the documented content type, and a body and headers that match the
documented schema for that status.

Bounded so it takes seconds: a fixed number of examples per operation, no
shrinking, a fixed seed (the same requests every run, so a failure replays).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.domain.services.handoff import RasaConversations
from api.domain.services.nlu import NluClassifier
from api.web.app import create_app
from api.web.deps import get_today
from api.web.routes.handoff import get_rasa
from api.web.routes.nlu import get_classifier
from common.taxonomy import load_taxonomy
from tests.conftest import DEMO_ANCHOR
from tests.web.conftest import SERVICE_TOKEN

EXAMPLES_PER_OPERATION = 40
SEED = 20261115

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _fake_rasa(request: httpx.Request) -> httpx.Response:
    """Rasa as the routes see it when it is up: every conversation was handed off
    to the first demo partner and waits for a person; every text is understood."""
    if request.url.path.endswith("/model/parse"):
        intent = next(iter(load_taxonomy().intent_topic))
        return httpx.Response(
            200, json={"intent": {"name": intent, "confidence": 0.9}, "entities": []}
        )
    return httpx.Response(
        200,
        json={
            "paused": True,
            "slots": {"handoff_partner_id": "1"},
            "latest_input_channel": "socketio",
            "events": [],
        },
    )


RASA = httpx.MockTransport(_fake_rasa)


def _classifier() -> Iterator[NluClassifier]:
    with NluClassifier("http://rasa.invalid", "t", transport=RASA) as made:
        yield made


# The app reads its settings and database per request, so one app serves every
# case, in the environment the `app` fixture sets up for it (seeded database, token).
APP = create_app()
APP.dependency_overrides[get_today] = lambda: DEMO_ANCHOR
APP.dependency_overrides[get_rasa] = lambda: RasaConversations(
    "http://rasa.invalid", "t", transport=RASA
)
APP.dependency_overrides[get_classifier] = _classifier
# (schemathesis' lazy `from_fixture` loader does not run under pytest 9.)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_documented_contract(
    app: FastAPI, case: schemathesis.Case
) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}, checks=CHECKS
    )
