"""Two problems in one message (bot/issues.py): where a message splits, and which
clauses count as issues. The classifier is replaced by a table, so that these test
the splitting and the rules, not a model; scripts/bench_nlu.py measures the whole
thing with the trained model."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.issues import (
    MAX_TEXT_CHARS,
    find_issues,
    find_questions,
    lead_ranking,
    leading_issue,
    split_clauses,
)


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        (
            "I was charged twice this month. Also, Teams won't start on my laptop.",
            ["I was charged twice this month", "Teams won't start on my laptop"],
        ),
        (
            "my invoice is wrong and Outlook keeps crashing",
            ["my invoice is wrong", "Outlook keeps crashing"],
        ),
        (
            "I want to cancel 3 seats and I also need a copy of invoice G000024176",
            ["I want to cancel 3 seats", "I also need a copy of invoice G000024176"],
        ),
        (
            "Hi, I need a refund; on top of that Azure VMs are not starting",
            ["Hi, I need a refund", "Azure VMs are not starting"],
        ),
        (
            "Two issues: 1) the PDF of my last invoice 2) SharePoint loads slowly",
            ["Two issues:", "the PDF of my last invoice", "SharePoint loads slowly"],
        ),
        # one matter, told in two clauses that point back
        (
            "I noticed a strange payment and would like to cancel it.",
            ["I noticed a strange payment, would like to cancel it"],
        ),
        ("I requested a refund and it is missing.", []),
        # an explicit connector wins over a pronoun
        (
            "my invoice is wrong. Also Teams crashes when I open it",
            ["my invoice is wrong", "Teams crashes when I open it"],
        ),
        # "and" between short phrases is one matter
        ("send the invoice and credit note", ["send the invoice and credit note"]),
        ("", []),
        ("x" * (MAX_TEXT_CHARS + 1), []),
    ],
)
def test_clauses(text: str, clauses: list[str]) -> None:
    found = split_clauses(text)
    if clauses == []:
        assert len(found) <= 1
    else:
        assert found == [c for c in clauses if len(c.split()) >= 3]


TABLE = {
    "I was charged twice this month": ("request_refund", 0.98),
    "Teams won't start on my laptop": ("report_technical_issue", 0.99),
    "how do I pay by bank transfer": ("ask_payment_methods", 0.95),
    "hi there how are you": ("greet", 0.99),
    "I want to cancel two seats": ("cancel_subscription", 0.97),
    "Outlook is a bit odd today": ("report_technical_issue", 0.55),
    "Outlook crashes on start": ("report_technical_issue", 0.93),
    "we pay for more E5 seats than we use": ("dispute_charge", 0.8),
    "where do I send the money": ("ask_payment_methods", 0.8),
}


def classify(clauses: Sequence[str]) -> list[tuple[str, float]]:
    return [TABLE[c] for c in clauses]


def topics(text: str) -> list[str]:
    return [i.topic for i in find_issues(text, classify, 0.9)]


def test_two_topics_are_two_issues_in_the_order_raised() -> None:
    text = "I was charged twice this month. Also, Teams won't start on my laptop"
    issues = find_issues(text, classify, 0.9)
    assert [(i.topic, i.triage) for i in issues] == [
        ("refund", "commercial"),
        ("technical_issue", "technical"),
    ]
    assert issues[1].text == "Teams won't start on my laptop"


def test_small_talk_is_not_an_issue() -> None:
    assert topics("hi there how are you. Teams won't start on my laptop") == []


def test_an_unsure_clause_is_not_an_issue() -> None:
    assert topics("Outlook is a bit odd today. how do I pay by bank transfer") == []
    assert topics("Outlook crashes on start. how do I pay by bank transfer") == [
        "technical_issue",
        "payment",
    ]


def test_cancelling_and_its_refund_are_one_matter() -> None:
    assert topics("I want to cancel two seats. I was charged twice this month") == []


def test_three_issues() -> None:
    text = (
        "I was charged twice this month; Teams won't start on my laptop; "
        "how do I pay by bank transfer"
    )
    assert topics(text) == ["refund", "technical_issue", "payment"]


# --------------------------------------------------------------------------- questions

QUESTIONS = {
    "couple of things": ("smalltalk_filler", 0.5),
    "what was our last bill": ("ask_invoice", 0.98),
    "when are you guys around": ("ask_support_info", 0.95),
    "do you charge for technical help": ("ask_support_info", 0.99),
    "What's our latest invoice": ("ask_invoice", 0.99),
    "what's the weather going to be like in London tomorrow?": ("out_of_scope", 0.97),
    "our finance person is off this week": ("out_of_scope", 0.9),
    "what is the weather like today": ("out_of_scope", 0.9),
    "and how is your day going": ("greet", 0.9),
    "do you know any good jokes": ("out_of_scope", 0.9),
    "how do I pay by bank transfer": ("ask_payment_methods", 0.3),
}


def ask(clauses: Sequence[str]) -> list[tuple[str, float]]:
    return [QUESTIONS[c] for c in clauses]


def test_each_question_is_listed_even_two_about_one_topic() -> None:
    """A comma or colon before a question word ends a clause; two support questions
    are two questions, in the order asked."""
    found = find_questions(
        "Hey. couple of things: what was our last bill, when are you guys around, "
        "and do you charge for technical help",
        ask,
        0.8,
    )
    assert [(q.text, q.intent) for q in found] == [
        ("what was our last bill", "ask_invoice"),
        ("when are you guys around", "ask_support_info"),
        ("do you charge for technical help", "ask_support_info"),
    ]


def test_an_out_of_scope_question_is_listed_beside_one_the_desk_answers() -> None:
    found = find_questions(
        "What's our latest invoice, and what's the weather going to be like in "
        "London tomorrow?",
        ask,
        0.8,
    )
    assert [q.intent for q in found] == ["ask_invoice", "out_of_scope"]


@pytest.mark.parametrize(
    "text",
    [
        # nothing the desk answers
        "what is the weather like today. do you know any good jokes",
        # small talk and a statement are no questions: one question is left
        "What's our latest invoice. and how is your day going",
        "our finance person is off this week. What's our latest invoice",
        # not confident enough
        "What's our latest invoice. how do I pay by bank transfer",
    ],
)
def test_fewer_than_two_questions_is_no_list(text: str) -> None:
    assert find_questions(text, ask, 0.8) == []


def test_a_short_question_counts_with_less_confidence_than_a_statement() -> None:
    table = {
        "What's our latest invoice": ("ask_invoice", 0.99),
        "when are you guys around": ("ask_support_info", 0.48),
        "you guys are around a lot": ("ask_support_info", 0.48),
        "can someone call us back": ("request_human", 0.99),
    }

    def short(clauses: Sequence[str]) -> list[tuple[str, float]]:
        return [table[c] for c in clauses]

    asked = find_questions(
        "What's our latest invoice. when are you guys around", short, 0.8
    )
    assert [q.intent for q in asked] == ["ask_invoice", "ask_support_info"]
    assert (
        find_questions(
            "What's our latest invoice. you guys are around a lot", short, 0.8
        )
        == []
    )
    asked = find_questions(
        "What's our latest invoice. can someone call us back", short, 0.8
    )
    assert [q.intent for q in asked] == ["ask_invoice", "request_human"]


def test_a_billing_problem_beside_a_technical_one_needs_less_confidence() -> None:
    """Worded unlike the training data, the billing clause is less sure; beside a
    confident technical one it is still a problem of its own."""
    text = "we pay for more E5 seats than we use, plus Outlook crashes on start"
    assert topics(text) == ["charge_explanation", "technical_issue"]
    # Two billing matters get no such allowance: each must be sure.
    assert (
        topics("we pay for more E5 seats than we use. where do I send the money") == []
    )
    # Nor does a clause that is unsure in every way.
    assert (
        topics("Outlook is a bit odd today. we pay for more E5 seats than we use") == []
    )


def test_the_first_matter_leads_when_the_whole_message_is_unsure() -> None:
    text = "we pay for more E5 seats than we use, plus Outlook crashes on start"
    issues = find_issues(text, classify, 0.9)
    lead = leading_issue(issues, "report_technical_issue", 0.52)
    assert lead is not None and lead.intent == "dispute_charge"
    # The whole message about the matter raised second, even surely: the first
    # raised leads.
    lead = leading_issue(issues, "report_technical_issue", 0.95)
    assert lead is not None and lead.intent == "dispute_charge"
    # A sure intent about no matter of the list, or one about the first matter
    # already, stays.
    assert leading_issue(issues, "ask_support_info", 0.95) is None
    assert leading_issue(issues, "explain_charges", 0.5) is None
    assert leading_issue([], "report_technical_issue", 0.5) is None


def test_the_lead_stands_clear_of_the_rest() -> None:
    """The fallback's ambiguity check compares the first two intents: the lead
    keeps its clause's confidence and the others share the rest."""
    text = "we pay for more E5 seats than we use, plus Outlook crashes on start"
    [lead, _] = find_issues(text, classify, 0.9)
    ranking = [
        {"name": "report_technical_issue", "confidence": 0.55},
        {"name": "dispute_charge", "confidence": 0.4},
        {"name": "ask_invoice", "confidence": 0.05},
    ]
    led = lead_ranking(lead, ranking)
    assert [r["name"] for r in led] == [
        "dispute_charge",
        "report_technical_issue",
        "ask_invoice",
    ]
    assert led[0]["confidence"] == 0.8
    assert led[1]["confidence"] == pytest.approx(0.2 * 0.55 / 0.6)
    assert sum(r["confidence"] for r in led) == pytest.approx(1.0)
