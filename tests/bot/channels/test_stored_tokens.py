"""No chat token is stored, published or kept by the tracker store (bot/stores.py):
each is swapped for its receipt (common/identity.py) before anything is written.
A token stays valid for an hour; whoever reads the tracker store, the broker's
queue or a replica's memory must not be able to chat as its customer with it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from rasa.shared.core.constants import SESSION_START_METADATA_SLOT
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)

from common.identity import (
    InvalidChatToken,
    mint_customer_token,
    scrub_metadata,
    verify_chat_token,
)
from tests.bot.channels.test_tracker_cache import Broker, rows, run, store

SECRET = "stored-token-test-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def chat_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_TOKEN_SECRET", SECRET)


def token(user: str = "alex@contoso.example") -> str:
    return mint_customer_token(SECRET, tenant_id="tenant-contoso", user_id=user)


def first_message(tracker, metadata: dict) -> None:  # type: ignore[no-untyped-def]
    """What the processor appends for a session's first message: the session
    start with the message's metadata in the slot, then the message."""
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(SlotSet(SESSION_START_METADATA_SLOT, metadata))
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(
        UserUttered(
            "my invoice",
            {"name": "invoice"},
            parse_data={"metadata": metadata},
            metadata=metadata,
        )
    )
    tracker.update(BotUttered("Invoice D1"))
    tracker.update(ActionExecuted("action_listen"))


def test_no_token_is_written_published_or_kept(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    broker = Broker()
    replica = store(db, event_broker=broker)
    tracker = run(replica.get_or_create_tracker("conv"))
    secret_token = token()
    metadata = {"chat_token": secret_token, "chatter": "abc"}
    first_message(tracker, metadata)
    # While the message is handled (actions run before the save) it has its token.
    assert tracker.latest_message.metadata["chat_token"] == secret_token
    run(replica.save(tracker))

    written = "".join(data for _, data in rows(db, "conv"))
    published = json.dumps(broker.published)
    kept = run(replica.retrieve("conv"))
    assert kept is tracker
    in_memory = json.dumps([event.as_dict() for event in kept.events]) + json.dumps(
        kept.get_slot(SESSION_START_METADATA_SLOT)
    )
    for where in (written, published, in_memory):
        assert secret_token not in where
        assert "chatter" in where  # the rest of the metadata is kept
    # The message's own dict (the channel's) was not changed under it.
    assert metadata["chat_token"] == secret_token

    # What is stored instead names the chatter and opens nothing.
    stored = next(json.loads(data) for kind, data in rows(db, "conv") if kind == "user")
    receipt = stored["metadata"]["chat_token"]
    with pytest.raises(InvalidChatToken, match="expired"):
        verify_chat_token(SECRET, receipt)
    claims = jwt.decode(
        receipt,
        SECRET,
        algorithms=["HS256"],
        audience="csp-billing-desk",
        options={"verify_exp": False},
    )
    assert claims["tenant_id"] == "tenant-contoso"
    assert claims["sub"] == "alex@contoso.example"
    assert claims["exp"] <= stored["timestamp"]


def test_a_later_message_is_scrubbed_too(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    replica = store(db)
    tracker = run(replica.get_or_create_tracker("conv"))
    first_message(tracker, {"chat_token": token()})
    run(replica.save(tracker))
    later = token("alex@contoso.example")
    tracker = run(replica.retrieve("conv"))
    tracker.update(UserUttered("and the next", metadata={"chat_token": later}))
    run(replica.save(tracker))
    assert later not in "".join(data for _, data in rows(db, "conv"))


def test_an_invalid_token_is_dropped_not_kept() -> None:
    forged = mint_customer_token(
        "not-our-secret-0123456789abcdefghij", tenant_id="t", user_id="u"
    )
    expired = mint_customer_token(
        SECRET, tenant_id="t", user_id="u", now=time.time() - 7200, ttl_seconds=60
    )
    for bad in (forged, expired, "garbage", 42):
        assert scrub_metadata({"chat_token": bad, "x": 1}, SECRET, time.time()) == {
            "x": 1
        }
