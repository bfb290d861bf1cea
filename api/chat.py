"""Talk to the running bot from a terminal, as a demo customer or anonymously.

    .venv/bin/python -m api.chat --tenant contoso.com      # signed in as Contoso
    .venv/bin/python -m api.chat                           # not signed in

It mints the same signed chat token a partner's site would, and talks to Rasa's REST
channel, so it goes through the whole stack: Rasa, the action server, the database.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Optional

import httpx
from sqlalchemy import or_, select

from api.db import session_scope
from api.identity import mint_customer_token
from api.models import Customer
from api.settings import get_settings


def token_for(tenant: str, user: str) -> str:
    """A chat token for the customer named by tenant id or domain."""
    settings = get_settings()
    with session_scope() as session:
        customer = session.scalars(
            select(Customer).where(
                or_(
                    Customer.tenant_id == tenant.lower(),
                    Customer.domain == tenant.lower(),
                )
            )
        ).first()
        if customer is None:
            raise SystemExit(f"no customer with tenant id or domain {tenant!r}")
        return mint_customer_token(
            settings.chat_token_secret,
            tenant_id=customer.tenant_id,
            user_id=user or f"demo.user@{customer.domain}",
            name="Demo user",
            ttl_seconds=settings.chat_token_ttl_seconds,
        )


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Chat with the bot from a terminal.")
    parser.add_argument("--tenant", help="customer tenant id or domain to sign in as")
    parser.add_argument("--user", default="", help="user id inside the tenant")
    args = parser.parse_args(argv)

    settings = get_settings()
    metadata = {"chat_token": token_for(args.tenant, args.user)} if args.tenant else {}
    sender = f"terminal-{uuid.uuid4()}"
    url = f"{settings.rasa_url}/webhooks/rest/webhook"
    who = f"signed in as {args.tenant}" if args.tenant else "not signed in"
    print(f"Talking to {settings.rasa_url} ({who}). Type /quit to stop.")
    with httpx.Client(timeout=60) as client:
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if text in {"/quit", "/exit"}:
                return 0
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


if __name__ == "__main__":
    sys.exit(main())
