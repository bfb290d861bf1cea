"""The trained model keeps the understanding the conversation design relies on.

The dialogue's rules and forms act on these intents and entities (a bare "cancel" leaves
a form, "cancel my Teams subscription" starts a cancellation, "no" still answers a
question), so a change of training data that moves one of them fails here, not in a
conversation. Runs on ``models/csp.tar.gz`` (``make train``; ``make pytest`` trains
first) and is skipped when there is no model or it is older than the NLU sources.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rasa")

REPO_ROOT = Path(__file__).resolve().parents[3]
MODEL = REPO_ROOT / "models" / "csp.tar.gz"
SOURCES = [REPO_ROOT / "config.yml", REPO_ROOT / "domain", REPO_ROOT / "data" / "nlu"]
SOURCES += [REPO_ROOT / "bot" / "patterns", REPO_ROOT / "bot" / "spacy_pipeline.py"]


def _newest_source() -> float:
    files = [p for s in SOURCES for p in ([s] if s.is_file() else s.rglob("*"))]
    return max(p.stat().st_mtime for p in files if p.is_file())


@pytest.fixture(scope="module")
def parse():
    if not MODEL.is_file():
        pytest.skip("no trained model: run `make train`")
    if MODEL.stat().st_mtime < _newest_source():
        pytest.skip("the model is older than the NLU sources: run `make train`")
    from rasa.core.agent import Agent

    cwd = Path.cwd()
    os.chdir(REPO_ROOT)  # the model names build/spacy/csp_en relative to the repo
    loop = asyncio.new_event_loop()
    try:
        agent = Agent.load(str(MODEL))

        def _parse(text: str) -> dict[str, Any]:
            return loop.run_until_complete(agent.parse_message(text))

        yield _parse
    finally:
        loop.close()
        os.chdir(cwd)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # leaving a form, and what must not leave it
        ("stop", "stop"),
        ("cancel that", "stop"),
        ("cancel", "stop"),
        ("never mind", "stop"),
        ("forget it, I changed my mind", "stop"),
        ("cancel my Teams subscription", "cancel_subscription"),
        ("yes please", "affirm"),
        ("no", "deny"),
        ("nope not yet", "deny"),
        # reasons, help, complaints
        ("why not?", "ask_why"),
        ("how come?", "ask_why"),
        ("what can you do?", "ask_capabilities"),
        ("help", "ask_capabilities"),
        ("you're useless", "complain"),
        ("thanks, that helps", "thank"),
        ("this bot is useless, get me a human", "request_human"),
        # charges: a question, a claim that it is wrong, money back
        ("why is my bill higher this month?", "explain_charges"),
        ("I was double charged, I want to open a ticket", "dispute_charge"),
        ("the amount on G000024178 is wrong", "dispute_charge"),
        ("refund the Copilot order", "request_refund"),
        # a double charge is a dispute (bot/nlu_rules.py), which finds its credit note
        ("did we get a credit for the double charge?", "dispute_charge"),
        (
            "you charged us twice for Teams Phone, I want my money back",
            "dispute_charge",
        ),
        ("did we get a credit note for the Copilot refund?", "ask_credit_note"),
        # Microsoft's invoices to the partner (staff), beside the customer's own
        ("what's Microsoft's latest invoice to us?", "ask_microsoft_invoice"),
        ("how much did Microsoft bill us in October?", "ask_microsoft_invoice"),
        (
            "what's Contoso's share of the Partner Center invoice?",
            "ask_microsoft_invoice",
        ),
        ("latest invoice for Contoso", "ask_invoice"),
        # Microsoft, support info, tickets
        ("can you escalate this to Microsoft?", "escalate_to_microsoft"),
        ("has Microsoft answered our case yet?", "ask_ticket_status"),
        ("phone number?", "ask_support_info"),
        # identifiers and references
        ("G000024178", "ask_invoice"),
        ("g-000 024 178", "ask_invoice"),
        ("CSP-000012", "ask_ticket_status"),
        ("the one before that", "ask_invoice"),
        # Japanese, which the desk speaks (data/nlu/ja)
        ("請求書 G000024195", "ask_invoice"),
        ("請求書Ｇ００００２４１９５を見せてください", "ask_invoice"),
        ("請求書ください", "ask_invoice"),
        ("せいきゅうしょをおくってください", "ask_invoice"),
        ("ｻﾎﾟｰﾄ ｼﾞｶﾝ ｦ ｵｼｴﾃ", "ask_support_info"),
        ("サポートの営業時間は？", "ask_support_info"),
        ("Teamsにサインインできません", "report_technical_issue"),
        ("Microsoft 365 E3を解約したい", "cancel_subscription"),
        ("支払期限はいつですか", "ask_payment_status"),
        ("担当者と話したい", "request_human"),
        ("ありがとうございます", "thank"),
        (
            "お世話になっております。先月分の請求書がまだ届いておりませんので、"
            "再送いただけますでしょうか。よろしくお願いいたします。",
            "ask_invoice",
        ),
        # languages the desk does not speak (bot/language.py)
        ("请把上个月的发票发给我", "unsupported_language"),
        ("Wann ist meine nächste Rechnung fällig?", "unsupported_language"),
        ("Où est ma facture ?", "unsupported_language"),
        ("sorry: in English, show me my latest invoice", "ask_invoice"),
    ],
)
def test_intent(parse, text: str, intent: str) -> None:
    assert parse(text)["intent"]["name"] == intent


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("are you open on weekends?", "aspect", "weekend"),
        ("can I pay in euros?", "aspect", "currency"),
        ("will we lose our data?", "aspect", "data"),
        ("what about the previous one?", "invoice_ref", "previous"),
        ("g-000 024 178", "invoice_number", "G000024178"),
        ("this week's bill", "billing_period", "this week"),
        ("請求書Ｇ００００２４１９５を見せて", "invoice_number", "G000024195"),
        ("先月の請求書をください", "billing_period", "last month"),
        ("2026年4月の請求書", "billing_period", "2026-04"),
        ("¥12,800の項目は何ですか", "amount", "¥12,800"),
        ("チームズが使えない", "product", "Teams"),
    ],
)
def test_entity(parse, text: str, entity: str, value: str) -> None:
    found = [(e["entity"], e["value"]) for e in parse(text)["entities"]]
    assert (entity, value) in found


@pytest.mark.parametrize(
    ("text", "code", "spoken"),
    [
        ("show me my latest invoice", "en", True),
        ("ok", "en", True),
        ("Teams", "en", True),
        ("請求書を見せてください", "ja", True),
        ("请把上个月的发票发给我", "zh", False),
        ("¿Dónde está mi factura?", "es", False),
    ],
)
def test_language(parse, text: str, code: str, spoken: bool) -> None:
    told = parse(text)["language"]
    assert (told["code"], told["spoken"]) == (code, spoken)
