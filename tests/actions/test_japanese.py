"""A conversation in Japanese: the actions answer from the Japanese catalogue, with
Japanese dates and words, chosen as the NLG chooses (common/conversation_language.py)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from datetime import time as clock_time
from typing import Any, Optional

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.base import language_of
from actions.invoices import ActionInvoiceLookup
from actions.support import ActionSupportInfo
from api.demo.seed import DemoSummary
from api.domain.models import Customer
from common.texts import catalogue
from tests.actions.escalation_fixtures import conversation, customer_token, user

JAPANESE_DATE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日")


def told(
    text: str,
    intent: str,
    code: str,
    source: str = "script",
    metadata: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    event = user(text, intent, metadata=metadata)
    event["parse_data"]["language"] = {
        "code": code,
        "candidates": [code],
        "confidence": 1.0,
        "source": source,
        "spoken": True,
    }
    return event


def render_ja(dispatcher: CollectingDispatcher) -> list[str]:
    """The texts shown, rendered from the Japanese catalogue as the NLG does."""
    shown = []
    for message in dispatcher.messages:
        if message.get("text"):
            shown.append(message["text"])
            continue
        values = {k: v for k, v in message.items() if v is not None}
        template = catalogue("ja").response(message["response"])[0]["text"]
        missing = set(re.findall(r"{([^\n{}]+?)}", template)) - values.keys()
        assert not missing, f"{message['response']} needs {sorted(missing)}"
        shown.append(template.format(**values))
    return shown


def customer(session: Session, domain: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.domain == domain)).one()


def test_the_conversations_language_on_the_action_server() -> None:
    japanese = told("請求書を見せてください", "ask_invoice", "ja")
    short = told("ok", "affirm", "en", source="default")
    english = told("show me my latest invoice", "ask_invoice", "en", "detector")
    assert language_of(conversation([japanese])) == "ja"
    assert language_of(conversation([japanese, short])) == "ja"
    assert language_of(conversation([japanese, short, english])) == "en"
    on_a_japanese_site = told("ok", "affirm", "en", "default", {"locale": "ja-JP"})
    assert language_of(conversation([on_a_japanese_site])) == "ja"
    assert language_of(conversation([short])) == "en"


async def test_the_latest_invoice_in_japanese(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    contoso = customer(seeded_session, "contoso.com")
    tracker = conversation(
        [told("最新の請求書を見せてください", "ask_invoice", "ja")],
        token=customer_token(contoso.tenant_id),
    )
    midday = datetime.combine(seeded_db.anchor, clock_time(12), tzinfo=timezone.utc)
    dispatcher = CollectingDispatcher()
    await ActionInvoiceLookup(clock=lambda: midday).run(dispatcher, tracker, {})
    names = [m.get("response") for m in dispatcher.messages]
    assert names[0] == "utter_invoice_latest"
    shown = render_ja(dispatcher)[0]
    assert shown.startswith("contoso.com") or "の最新の請求書は" in shown
    assert "請求期間：" in shown and "支払期限：" in shown
    assert len(JAPANESE_DATE.findall(shown)) >= 3  # period start, end, due date
    assert "January" not in shown and "due in" not in shown
    status = dispatcher.messages[0]["payment_status"]
    assert status in ("支払済み", "クレジットノート") or status.startswith(
        ("未払い", "期限を", "一部支払済み")
    )


async def test_support_hours_in_japanese(
    seeded_db: DemoSummary, seeded_session: Session
) -> None:
    trey = customer(seeded_session, "treyresearch.net")
    tracker = conversation(
        [told("サポートの営業時間は？", "ask_support_info", "ja")],
        token=customer_token(trey.tenant_id),
    )
    midday = datetime.combine(seeded_db.anchor, clock_time(12), tzinfo=timezone.utc)
    dispatcher = CollectingDispatcher()
    await ActionSupportInfo(clock=lambda: midday).run(dispatcher, tracker, {})
    shown = "\n".join(render_ja(dispatcher))
    assert "受付時間" in shown
    assert trey.partner.support_hours.split(";")[0].split(",")[1].strip() in shown
