"""The taxonomy reads like the policy table in common/taxonomy.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.taxonomy import (
    TaxonomyError,
    domain_intents,
    load_taxonomy,
    topic_for_intent,
    triage_for_intent,
    triage_for_topic,
)

TOPIC_TRIAGE = {
    "invoice_lookup": "commercial",
    "charge_explanation": "commercial",
    "payment": "commercial",
    "refund": "commercial",
    "subscription_change": "commercial",
    "access_suspended": "commercial",
    "technical_issue": "technical",
    "support_info": "none",
    "ticket_status": "none",
    "human_agent": "none",
    "smalltalk": "none",
    "out_of_scope": "none",
    "other_language": "none",
}

INTENT_TOPIC = {
    "greet": "smalltalk",
    "goodbye": "smalltalk",
    "affirm": "smalltalk",
    "deny": "smalltalk",
    "thank": "smalltalk",
    "bot_challenge": "smalltalk",
    "stop": "smalltalk",
    "ask_why": "smalltalk",
    "ask_capabilities": "smalltalk",
    "complain": "smalltalk",
    "follow_up": "smalltalk",
    "ask_invoice": "invoice_lookup",
    "ask_microsoft_invoice": "invoice_lookup",
    "explain_charges": "charge_explanation",
    "dispute_charge": "charge_explanation",
    "ask_payment_status": "invoice_lookup",
    "update_billing_details": "invoice_lookup",
    "ask_payment_methods": "payment",
    "report_payment_failed": "payment",
    "request_refund": "refund",
    "ask_credit_note": "refund",
    "cancel_subscription": "subscription_change",
    "change_seats": "subscription_change",
    "ask_subscription": "subscription_change",
    "access_suspended": "access_suspended",
    "ask_support_info": "support_info",
    "escalate_to_microsoft": "support_info",
    "report_technical_issue": "technical_issue",
    "ask_ticket_status": "ticket_status",
    "request_human": "human_agent",
    "out_of_scope": "out_of_scope",
    "unsupported_language": "other_language",
    "nlu_fallback": "out_of_scope",
}


@pytest.mark.parametrize(("topic", "triage"), sorted(TOPIC_TRIAGE.items()))
def test_topic_triage(topic: str, triage: str) -> None:
    assert triage_for_topic(topic) == triage


@pytest.mark.parametrize(("intent", "topic"), sorted(INTENT_TOPIC.items()))
def test_intent_topic(intent: str, topic: str) -> None:
    assert topic_for_intent(intent) == topic
    assert triage_for_intent(intent) == TOPIC_TRIAGE[topic]


def test_the_table_is_complete() -> None:
    taxonomy = load_taxonomy()
    assert set(taxonomy.topics) == set(TOPIC_TRIAGE)
    assert set(taxonomy.intents) == set(INTENT_TOPIC)
    assert taxonomy.triage_classes == ("commercial", "technical", "none")


def test_every_domain_intent_has_a_topic(repo_root: Path) -> None:
    intents = domain_intents(repo_root / "domain")
    assert intents, "no intents found in domain/"
    load_taxonomy().validate(intents)  # raises on any mismatch


def test_every_training_intent_has_a_topic(repo_root: Path) -> None:
    taxonomy = load_taxonomy()
    for file in sorted((repo_root / "data" / "nlu").glob("*.yml")):
        for block in yaml.safe_load(file.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in block:
                assert block["intent"] in taxonomy.intents, (file.name, block["intent"])


def test_training_files_are_named_after_their_topic(repo_root: Path) -> None:
    taxonomy = load_taxonomy()
    for file in sorted((repo_root / "data" / "nlu").glob("*.yml")):
        for block in yaml.safe_load(file.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in block:
                assert taxonomy.topic_for_intent(block["intent"]) == file.stem


def test_unknown_names_are_refused() -> None:
    with pytest.raises(TaxonomyError):
        topic_for_intent("make_coffee")
    with pytest.raises(TaxonomyError):
        triage_for_topic("astrology")


def test_fallback_is_out_of_scope_unless_the_caller_takes_the_runner_up() -> None:
    taxonomy = load_taxonomy()
    parse = {
        "intent": {"name": "nlu_fallback", "confidence": 0.5},
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.5},
            {"name": "request_refund", "confidence": 0.45},
            {"name": "ask_invoice", "confidence": 0.40},
        ],
    }
    assert taxonomy.topic_for_parse(parse) == "out_of_scope"
    assert taxonomy.topic_for_parse(parse, use_runner_up=True) == "refund"
    assert taxonomy.topic_for_parse({"intent": {"name": "ask_invoice"}}) == (
        "invoice_lookup"
    )
    assert taxonomy.topic_for_parse({}) == "out_of_scope"


def _write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "taxonomy.yml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def test_validation_catches_unknown_topic_and_triage(tmp_path: Path) -> None:
    bad = {
        "triage_classes": ["commercial", "technical", "none"],
        "topics": {"refund": {"triage": "financial"}},
        "intents": {"request_refund": "refunds", "nlu_fallback": "refund"},
    }
    with pytest.raises(TaxonomyError) as error:
        load_taxonomy(_write(tmp_path, bad))
    assert "financial" in str(error.value)
    assert "refunds" in str(error.value)


def test_validation_against_a_domain(tmp_path: Path) -> None:
    taxonomy = load_taxonomy()
    problems = taxonomy.problems(["greet", "order_pizza"])
    assert "domain intent 'order_pizza' has no topic in the taxonomy" in problems
    assert "taxonomy intent 'ask_invoice' is not in the domain" in problems
    assert not any("nlu_fallback" in p for p in problems)


def test_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError):
        load_taxonomy(_write(tmp_path, {"topics": {}}))
