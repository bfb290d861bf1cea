"""Japanese messages: their entities (bot/japanese.py), read by NluRules after the
spaCy pipeline, which splits on spaces and so finds little in Japanese text.

Runs in the Rasa venv; skipped where Rasa is not installed.
"""

from __future__ import annotations

import pytest

pytest.importorskip("rasa")
pytest.importorskip("spacy")

from bot.japanese import fold, is_japanese, japanese_entities, only_filler
from tests.bot.nlu.test_nlu_rules import _run


def _found(text: str) -> list[tuple[str, str, str]]:
    return [(f.entity, f.value, text[f.start : f.end]) for f in japanese_entities(text)]


@pytest.mark.parametrize(
    ("text", "entity", "value", "typed"),
    [
        ("請求書G000024195を見せて", "invoice_number", "G000024195", "G000024195"),
        (
            "請求書Ｇ００００２４１９５を見せて",
            "invoice_number",
            "G000024195",
            "Ｇ００００２４１９５",
        ),
        ("ｇ-000 024 195の件", "invoice_number", "G000024195", "ｇ-000 024 195"),
        ("CSP-000012の状況は？", "ticket_id", "CSP-000012", "CSP-000012"),
        (
            "ＣＳＰ－０００１２３はどうなりましたか",
            "ticket_id",
            "CSP-000123",
            "ＣＳＰ－０００１２３",
        ),
        ("30,000円の請求は何の分ですか", "amount", "30,000円", "30,000円"),
        ("¥12,800の項目は何？", "amount", "¥12,800", "¥12,800"),
        ("￥１２，８００の項目", "amount", "¥12,800", "￥１２，８００"),
        ("先月より5万円も高い", "amount", "5万円", "5万円"),
        ("先月の請求書", "billing_period", "last month", "先月"),
        ("今月の請求額は？", "billing_period", "this month", "今月"),
        ("先々月の分", "billing_period", "two months ago", "先々月"),
        ("10月の請求書が届いていません", "billing_period", "October", "10月"),
        ("2026年4月の請求書", "billing_period", "2026-04", "2026年4月"),
        ("第3四半期の請求書", "billing_period", "Q3", "第3四半期"),
        ("2026年第3四半期の請求", "billing_period", "Q3 2026", "2026年第3四半期"),
        ("直近3か月分の請求書", "billing_period", "the last 3 months", "直近3か月分"),
        (
            "Microsoft 365 E3を解約したい",
            "product",
            "Microsoft 365 E3",
            "Microsoft 365 E3",
        ),
        ("Teamsの料金が高い", "product", "Teams", "Teams"),
        ("チームズが使えない", "product", "Teams", "チームズ"),
        ("ｱｳﾄﾙｯｸが起動しない", "product", "Outlook", "ｱｳﾄﾙｯｸ"),
        ("エクセルが固まる", "product", "Excel", "エクセル"),
    ],
)
def test_an_entity_of_japanese_text(
    text: str, entity: str, value: str, typed: str
) -> None:
    assert (entity, value, typed) in _found(text)


@pytest.mark.parametrize(
    "text",
    [
        "11月5日に振り込みました",  # a day's date, not a billing period
        "3か月前から使えない",  # a count of months without 直近/過去
        "請求書を見せてください",
    ],
)
def test_no_period_where_there_is_none(text: str) -> None:
    assert not [f for f in _found(text) if f[0] == "billing_period"]


def test_folding_keeps_every_offset() -> None:
    text = "ｾｲｷｭｳｼｮ Ｇ００００２４１９５ ﾃﾞｨﾌｪﾝﾀﾞｰ"
    assert len(fold(text)) == len(text)
    assert "G000024195" in fold(text)
    assert is_japanese(text) and not is_japanese("show me G000024195")


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("請求書 G000024195", "ask_invoice"),
        ("請求書Ｇ００００２４１９５を見せてください", "ask_invoice"),
        ("G000024195の請求書をお願いします", "ask_invoice"),
        ("CSP-000012の状況を教えてください", "ask_ticket_status"),
    ],
)
def test_an_identifier_with_japanese_filler_is_looked_up(
    csp_nlp, text: str, intent: str
) -> None:
    message = _run(csp_nlp, text)
    assert message.get("intent")["name"] == intent


@pytest.mark.parametrize(
    "text",
    [
        "G000024195は支払済みですか",  # a question about it: the classifier decides
        "G000024195の金額が間違っています",
        "先月の請求書",  # no identifier
    ],
)
def test_a_sentence_about_an_identifier_keeps_the_classifiers_intent(
    csp_nlp, text: str
) -> None:
    assert _run(csp_nlp, text).get("intent")["name"] == "report_technical_issue"


def test_nlu_rules_add_the_entities_of_japanese_text_with_their_offsets(
    csp_nlp,
) -> None:
    text = "先月のＧ００００２４１９５、Teamsの料金が30,000円も高い"
    entities = _run(csp_nlp, text).get("entities")
    found = {(e["entity"], e["value"], text[e["start"] : e["end"]]) for e in entities}
    assert ("billing_period", "last month", "先月") in found
    assert ("invoice_number", "G000024195", "Ｇ００００２４１９５") in found
    assert ("product", "Teams", "Teams") in found
    assert ("amount", "30,000円", "30,000円") in found
    assert [e["start"] for e in entities] == sorted(e["start"] for e in entities)


def test_english_messages_are_read_as_before(csp_nlp) -> None:
    entities = _run(csp_nlp, "g-000 024 178 for last month").get("entities")
    assert [
        (e["entity"], e["value"]) for e in entities if e["entity"] == "invoice_number"
    ] == [("invoice_number", "G000024178")]
    assert only_filler("請求書 を 見せて ください") and not only_filler(
        "支払済みですか"
    )
