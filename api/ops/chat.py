"""Talk to the running bot from a terminal, as a demo customer or anonymously.

    csp-desk chat --tenant contoso.com      # signed in as Contoso
    csp-desk chat                           # not signed in

It mints the same signed chat token a partner's site would, and talks to Rasa's REST
channel, so it goes through the whole stack: Rasa, the action server, the database.
"""

from __future__ import annotations

import sys
import uuid
from typing import Optional

import httpx

from api.settings import get_settings
from common.identity import mint_customer_token


def token_for(tenant: str, user: str) -> str:
    """A chat token for the customer named by tenant id or domain."""
    from api.ops.cli import customer_by_tenant_or_domain

    settings = get_settings()
    tenant_id, domain = customer_by_tenant_or_domain(tenant)
    return mint_customer_token(
        settings.chat_token_secret,
        tenant_id=tenant_id,
        user_id=user or f"demo.user@{domain}",
        name="Demo user",
        ttl_seconds=settings.chat_token_ttl_seconds,
    )


def run_chat(tenant: Optional[str], user: str = "") -> None:
    """Read lines from the terminal and print the bot's replies until /quit."""
    settings = get_settings()
    metadata = {"chat_token": token_for(tenant, user)} if tenant else {}
    sender = f"terminal-{uuid.uuid4()}"
    url = f"{settings.rasa_url}/webhooks/rest/webhook"
    who = f"signed in as {tenant}" if tenant else "not signed in"
    print(f"Talking to {settings.rasa_url} ({who}). Type /quit to stop.")
    with httpx.Client(timeout=60) as client:
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return
            if text in {"/quit", "/exit"}:
                return
            if not text:
                continue
            try:
                reply = client.post(
                    url, json={"sender": sender, "message": text, "metadata": metadata}
                )
                reply.raise_for_status()
            except httpx.HTTPError as exc:
                print(f"error: cannot reach the bot at {url}: {exc}", file=sys.stderr)
                continue
            for message in reply.json():
                if "text" in message:
                    print(f"bot> {message['text']}")
                for button in message.get("buttons", []):
                    print(f"     [{button.get('title')}] -> {button.get('payload')}")
