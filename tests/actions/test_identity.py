"""Who is chatting: only a verified chat token counts."""

from __future__ import annotations

import time

from actions.identity import chat_identity
from api.identity import mint_customer_token, mint_staff_token
from api.settings import get_settings
from tests.actions.helpers import make_tracker

TENANT = "4f1c2d3e-0000-4000-8000-000000000001"


def customer_token(secret: str | None = None, **kwargs: object) -> str:
    return mint_customer_token(
        secret or get_settings().chat_token_secret,
        tenant_id=TENANT,
        user_id="alex@contoso.example",
        **kwargs,  # type: ignore[arg-type]
    )


def test_token_from_the_session_start() -> None:
    tracker = make_tracker(session_metadata={"chat_token": customer_token()})
    identity = chat_identity(tracker)
    assert identity is not None
    assert identity.kind == "customer"
    assert identity.tenant_id == TENANT


def test_token_from_the_latest_message_when_the_session_has_none() -> None:
    tracker = make_tracker(message_metadata={"chat_token": customer_token()})
    identity = chat_identity(tracker)
    assert identity is not None and identity.tenant_id == TENANT


def test_a_fresh_token_replaces_an_expired_session_token() -> None:
    expired = customer_token(now=time.time() - 7200, ttl_seconds=60)
    tracker = make_tracker(
        session_metadata={"chat_token": expired},
        message_metadata={"chat_token": customer_token()},
    )
    identity = chat_identity(tracker)
    assert identity is not None and identity.tenant_id == TENANT


def test_partner_staff() -> None:
    token = mint_staff_token(
        get_settings().chat_token_secret,
        platform="teams",
        platform_user_id="aad-object-id-7",
        name="Pat",
    )
    identity = chat_identity(make_tracker(session_metadata={"chat_token": token}))
    assert identity is not None
    assert identity.kind == "staff" and identity.subject == "aad-object-id-7"


def test_no_token_is_nobody() -> None:
    assert chat_identity(make_tracker()) is None
    assert chat_identity(make_tracker(session_metadata={"other": "x"})) is None


def test_expired_forged_or_garbage_tokens_are_nobody() -> None:
    expired = customer_token(now=time.time() - 7200, ttl_seconds=60)
    forged = customer_token(secret="not-the-real-secret-at-all")
    for token in (expired, forged, "not-a-jwt", 42, ""):
        tracker = make_tracker(
            session_metadata={"chat_token": token},
            message_metadata={"chat_token": token},
        )
        assert chat_identity(tracker) is None, token


def test_entities_and_text_never_identify() -> None:
    tracker = make_tracker(
        text=f"I am tenant {TENANT}",
        entities={"tenant_id": TENANT, "customer": "Contoso"},
    )
    assert chat_identity(tracker) is None
