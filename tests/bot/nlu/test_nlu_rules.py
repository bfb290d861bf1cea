"""NluRules: identifier-only messages, pattern ids as entity values, separated ids.

Runs in the Rasa venv; skipped where Rasa is not installed. Messages carry the doc of
the in-repo spaCy pipeline and the entities Rasa's extractor reports from it, as they
do when the component runs after SpacyNLP and the entity extractor in ``config.yml``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("rasa")
pytest.importorskip("spacy")

from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.training_data.message import Message

from bot.nlu_rules import NluRules

# What the intent classifier said before the rule looks at the message.
CLASSIFIER_RANKING = [
    {"name": "report_technical_issue", "confidence": 0.4},
    {"name": "ask_invoice", "confidence": 0.3},
    {"name": "out_of_scope", "confidence": 0.2},
    {"name": "ask_ticket_status", "confidence": 0.1},
]


def _message(nlp, text: str, ranking: list[dict] | None = None) -> Message:
    doc = nlp(text)
    ranking = [dict(r) for r in (ranking or CLASSIFIER_RANKING)]
    message = Message(data={"text": text})
    message.set(SPACY_DOCS["text"], doc)
    message.set("intent", dict(ranking[0]))
    message.set("intent_ranking", ranking)
    message.set(
        "entities",
        [
            {
                "entity": ent.label_,
                "value": ent.text,
                "start": ent.start_char,
                "end": ent.end_char,
                "extractor": "SpacyEntityExtractor",
            }
            for ent in doc.ents
        ],
    )
    return message


def _run(nlp, text: str, ranking: list[dict] | None = None) -> Message:
    message = _message(nlp, text, ranking)
    NluRules({}).process([message])
    return message


# --- identifier-only messages -------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "G000024178",
        "g000024178",
        "g-000 024 178",
        "G 000-024-178",
        "show me G000024178",
        "show me G000024178 please",
        "what about G000024135?",
        "how about d000451230",
        "G000024178 and G000024135",
        "can you check invoice G000024178?",
        "sorry, G000024195",
        "oops, I meant G000024178",
        "  G000024178  ",
    ],
)
def test_an_invoice_number_alone_asks_for_the_invoice(csp_nlp, text: str) -> None:
    message = _run(csp_nlp, text)
    assert message.get("intent") == {"name": "ask_invoice", "confidence": 0.95}
    assert message.get("intent_ranking")[0]["name"] == "ask_invoice"


@pytest.mark.parametrize(
    "text", ["CSP-000012", "csp-000012?", "what about CSP-000987", "csp 000012"]
)
def test_a_ticket_id_alone_asks_for_the_ticket(csp_nlp, text: str) -> None:
    message = _run(csp_nlp, text)
    assert message.get("intent")["name"] == "ask_ticket_status"
    assert message.get("intent")["confidence"] == pytest.approx(0.95)


def test_the_ranking_keeps_the_classifiers_other_intents(csp_nlp) -> None:
    ranking = _run(csp_nlp, "G000024178").get("intent_ranking")
    assert [r["name"] for r in ranking] == [
        "ask_invoice",
        "report_technical_issue",
        "out_of_scope",
        "ask_ticket_status",
    ]
    # the others keep their proportions in what the rule leaves: 0.4 : 0.2 : 0.1
    assert [r["confidence"] for r in ranking[1:]] == pytest.approx(
        [0.05 * 4 / 7, 0.05 * 2 / 7, 0.05 * 1 / 7]
    )
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text",
    [
        "G000024178 is wrong",
        "why is G000024178 so high?",
        "pay G000024178",
        "refund G000024178 please",
        "I was charged twice on G000024178",
        "cancel CSP-000012",
        "credit note G000031245",  # a credit-note question is the classifier's to judge
        "status of G000024178",  # paid or not: ask_payment_status, not the invoice
        "G000024178 and CSP-000012",  # two kinds: which one to look up is not clear
        "G000024178 x 3",
        "call me on 0123456789",
        "G00002417",  # one digit short: not an invoice number
        "my invoice",
        "",
    ],
)
def test_a_sentence_with_a_number_keeps_the_classifiers_intent(
    csp_nlp, text: str
) -> None:
    message = _run(csp_nlp, text)
    assert message.get("intent") == CLASSIFIER_RANKING[0]
    assert message.get("intent_ranking") == CLASSIFIER_RANKING


def test_the_intents_and_confidence_are_configurable(csp_nlp) -> None:
    message = _message(csp_nlp, "G000024178")
    NluRules({"invoice_intent": "ask_document", "confidence": 0.9}).process([message])
    assert message.get("intent") == {"name": "ask_document", "confidence": 0.9}


@pytest.mark.parametrize("confidence", [0, 1.5, -0.2])
def test_a_confidence_outside_zero_to_one_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        NluRules({"confidence": confidence})


# --- separated identifiers become one entity ---------------------------------------
def _entities(message: Message, label: str) -> list[tuple[str, str]]:
    text = message.get("text")
    return [
        (e["value"], text[e["start"] : e["end"]])
        for e in message.get("entities")
        if e["entity"] == label
    ]


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("g-000 024 178", "g-000 024 178"),
        ("show me invoice G 000.024.178 please", "G 000.024.178"),
        ("is g000-024-178 paid?", "g000-024-178"),
    ],
)
def test_a_separated_invoice_number_is_one_entity(
    csp_nlp, text: str, typed: str
) -> None:
    message = _run(csp_nlp, text)
    assert _entities(message, "invoice_number") == [("G000024178", typed)]


def test_an_invoice_number_the_pipeline_found_is_not_added_twice(csp_nlp) -> None:
    message = _run(csp_nlp, "invoice G000024178 and g-000 024 135")
    assert _entities(message, "invoice_number") == [
        ("G000024178", "G000024178"),
        ("G000024135", "g-000 024 135"),
    ]


def test_a_ticket_id_typed_with_a_space_is_one_entity(csp_nlp) -> None:
    message = _run(csp_nlp, "any news on csp 000012")
    assert _entities(message, "ticket_id") == [("CSP-000012", "csp 000012")]


@pytest.mark.parametrize(
    "text",
    ["call 0123 456 789", "G0000241789 is too long", "XG000024178", "order 000024178"],
)
def test_numbers_that_are_not_invoice_numbers_stay_out(csp_nlp, text: str) -> None:
    assert _entities(_run(csp_nlp, text), "invoice_number") == []


# --- pattern ids as entity values ----------------------------------------------------
@pytest.mark.parametrize(
    ("text", "label", "value", "typed"),
    [
        ("are you open on weekends?", "aspect", "weekend", "are you open on weekends"),
        ("can I pay in euros?", "aspect", "currency", "euros"),
        ("phone number?", "aspect", "phone", "phone number"),
        ("show me the one before that", "invoice_ref", "previous", None),
        ("and the next one?", "invoice_ref", "next", None),
    ],
)
def test_rule_entities_carry_their_pattern_id(
    csp_nlp, text: str, label: str, value: str, typed: str | None
) -> None:
    message = _run(csp_nlp, text)
    found = _entities(message, label)
    assert [v for v, _ in found] == [value]
    if typed is not None:
        assert found[0][1] == typed  # what was typed stays readable in the text
    entity = next(e for e in message.get("entities") if e["entity"] == label)
    assert entity["processors"] == ["NluRules"]


def test_other_entities_keep_the_text_as_typed(csp_nlp) -> None:
    message = _run(csp_nlp, "pay 20 euros on G000024178 for last month")
    values = {e["entity"]: e["value"] for e in message.get("entities")}
    assert values == {
        "amount": "20 euros",
        "invoice_number": "G000024178",
        "billing_period": "last month",
    }


def test_without_a_spacy_doc_entities_are_left_alone() -> None:
    entity = {"entity": "aspect", "value": "phone number", "start": 0, "end": 12}
    message = Message(data={"text": "phone number", "entities": [dict(entity)]})
    NluRules({}).process([message])
    assert message.get("entities") == [entity]


# --- a charge billed twice ----------------------------------------------------------
REFUND_RANKING = [
    {"name": "request_refund", "confidence": 0.8},
    {"name": "dispute_charge", "confidence": 0.15},
    {"name": "ask_credit_note", "confidence": 0.05},
]
CREDIT_RANKING = [
    {"name": "ask_credit_note", "confidence": 0.9},
    {"name": "dispute_charge", "confidence": 0.1},
]


@pytest.mark.parametrize(
    ("text", "ranking"),
    [
        ("you charged us twice for Teams Phone, I want my money back", REFUND_RANKING),
        ("we got billed two times for E3, refund it", REFUND_RANKING),
        ("refund the duplicate charge please", REFUND_RANKING),
        ("were we ever credited for the double charge?", CREDIT_RANKING),
        ("did we get a credit for being double billed?", CREDIT_RANKING),
    ],
)
def test_money_back_for_a_double_charge_is_a_dispute(
    csp_nlp, text: str, ranking: list[dict]
) -> None:
    message = _run(csp_nlp, text, ranking)
    assert message.get("intent")["name"] == "dispute_charge"
    assert message.get("intent")["confidence"] >= 0.9


@pytest.mark.parametrize(
    ("text", "ranking"),
    [
        ("refund the Copilot order", REFUND_RANKING),
        ("I want my money back for Teams Phone", REFUND_RANKING),
        ("did we get a credit note for the cancelled seats?", CREDIT_RANKING),
        # another intent keeps its own flow, double charge or not
        ("I was charged twice, cancel my subscription", CLASSIFIER_RANKING),
    ],
)
def test_other_refunds_and_credits_keep_their_intent(
    csp_nlp, text: str, ranking: list[dict]
) -> None:
    message = _run(csp_nlp, text, ranking)
    assert message.get("intent") == ranking[0]
