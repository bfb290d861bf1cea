"""The production profile's shared state under faults: two Rasa replicas
on one PostgreSQL tracker store and one Redis lock store (tests/faults/replicas.py).

- PostgreSQL restarted mid-conversation: the next message continues the ticket form.
  (With Rasa's own `type: SQL` store it was handled as a new conversation and lost:
  bot/stores.py.)
- Redis restarted mid-conversation: the same.
- A replica killed with -9 in the middle of a turn: the conversation continues on
  the other replica once the dead replica's lock expires, with every event of the
  finished turns, in order, and one ticket.

These restart the machine's shared PostgreSQL and Redis (a second or two each);
every restart brings the service back in `finally`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.faults.conftest import (
    FaultStack,
    new_sender,
    texts,
    to_the_confirmation,
    user_texts,
)
from tests.faults.replicas import (
    LOCK_LIFETIME_SECONDS,
    Replica,
    production_endpoints,
    start_replicas,
)
from tests.faults.services import (
    restart_postgres,
    restart_redis,
    scratch_database,
    services_available,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not services_available(),
        reason="needs this machine's PostgreSQL and Redis, and rights to restart them",
    ),
]

FILED = "I've filed ticket"


@pytest.fixture(scope="module")
def replicas(
    fault_stack: FaultStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Replica]]:
    workdir = tmp_path_factory.mktemp("replicas")
    with scratch_database("faults_tracker") as database:
        endpoints = production_endpoints(
            workdir,
            fault_stack.stack,
            database,
            key_prefix=f"faults{uuid.uuid4().hex[:8]}",
            action_url=fault_stack.proxy.url,
        )
        running = start_replicas(workdir, fault_stack.stack, endpoints, count=2)
        try:
            yield running
        finally:
            for replica in running:
                replica.stop()


def comparable(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e.get("event"), e.get("name"), e.get("text"), e.get("timestamp"))
        for e in events
    ]


@pytest.mark.parametrize(
    ("restart", "which"),
    [(restart_postgres, 0), (restart_redis, 1)],
    ids=["postgres", "redis"],
)
def test_a_store_restart_mid_form_loses_no_message(
    faults: FaultStack,
    replicas: list[Replica],
    restart: Callable[[], None],
    which: int,
) -> None:
    """PostgreSQL (tracker store, our DB) or Redis (lock store) restarts between the
    form's last question and the user's "yes": the ticket is filed once and every
    message the user sent is in the tracker."""
    replica = replicas[which]
    sender, metadata = new_sender(), faults.customer_metadata()
    sent: list[str] = []

    def say(text: str) -> list[dict]:
        sent.append(text)
        return replica.say(sender, text, metadata)

    to_the_confirmation(say)
    restart()
    filed = texts(say("/affirm"))
    [ticket] = faults.tickets(sender)
    assert f"{FILED} {ticket.public_id}" in filed, filed
    assert user_texts(replica.tracker(sender)["events"]) == sent


def test_a_replica_killed_mid_turn_the_other_continues_with_every_event(
    faults: FaultStack, replicas: list[Replica]
) -> None:
    doomed, survivor = replicas
    sender, metadata = new_sender(), faults.customer_metadata()
    sent: list[str] = []

    def say_on_doomed(text: str) -> list[dict]:
        sent.append(text)
        return doomed.say(sender, text, metadata)

    to_the_confirmation(say_on_doomed)
    before = doomed.tracker(sender)["events"]

    # The confirmation reaches the doomed replica, which dies while it waits for
    # the action server (the answer is held back).
    faults.proxy.slow(30, action="validate_escalation_form")
    calls = len(faults.proxy.calls)
    outcome: list[Any] = []

    def in_flight() -> None:
        try:
            outcome.append(doomed.say(sender, "/affirm", metadata))
        except httpx.HTTPError as error:
            outcome.append(error)

    thread = threading.Thread(target=in_flight)
    thread.start()
    deadline = time.monotonic() + 10
    while "validate_escalation_form" not in faults.proxy.calls[calls:]:
        assert time.monotonic() < deadline, "the confirmation never reached actions"
        time.sleep(0.05)
    doomed.kill()
    thread.join(30)
    assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome
    faults.proxy.up()

    # The client saw the failure and sends the message again, to the other replica.
    started = time.monotonic()
    sent.append("/affirm")
    filed = texts(survivor.say(sender, "/affirm", metadata))
    assert time.monotonic() - started < LOCK_LIFETIME_SECONDS + 15
    [ticket] = faults.tickets(sender)
    assert f"{FILED} {ticket.public_id}" in filed, filed

    after = survivor.tracker(sender)["events"]
    assert comparable(after[: len(before)]) == comparable(before), "events lost"
    assert user_texts(after) == sent, "a message lost or doubled"
    stamps = [e["timestamp"] for e in after]
    assert stamps == sorted(stamps), "events out of order"
