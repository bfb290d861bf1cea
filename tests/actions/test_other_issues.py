"""A message with two problems: the first answer names the other one, with a button
that asks about it in the user's own words (actions/base.py, `offer_other_issues`)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Reply, other_issues
from tests.actions.helpers import make_tracker

TWO = [
    {
        "text": "I was charged twice this month",
        "intent": "request_refund",
        "confidence": 0.98,
        "topic": "refund",
        "triage": "commercial",
    },
    {
        "text": "Teams won't start on my laptop",
        "intent": "report_technical_issue",
        "confidence": 0.99,
        "topic": "technical_issue",
        "triage": "technical",
    },
]


def tracker_with(issues: Any, intent: str = "request_refund", events: Any = None):
    tracker = make_tracker(
        intent=intent, text="I was charged twice. Also, Teams won't start"
    )
    data = tracker.current_state()
    data["latest_message"]["issues"] = issues
    data["events"] = events or [{"event": "user", "text": "..."}]
    return Tracker.from_dict(data)


def sent(tracker: Tracker) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    Reply().text("Here is what I found about the double charge.").send(
        dispatcher, tracker
    )
    return dispatcher.messages


def test_the_other_problem_is_named_with_a_button_in_the_users_words() -> None:
    messages = sent(tracker_with(TWO))
    assert len(messages) == 2
    offer = messages[1]
    assert "Teams won't start on my laptop" in offer["text"]
    assert offer["buttons"] == [
        {
            "title": "Teams won't start on my laptop",
            "payload": "Teams won't start on my laptop",
        }
    ]


def test_when_the_answer_took_up_neither_topic_the_first_is_taken_as_answered() -> None:
    others = other_issues(tracker_with(TWO, intent="explain_charges"))
    assert [i["topic"] for i in others] == ["technical_issue"]


def test_three_problems_list_the_two_others() -> None:
    three = [
        *TWO,
        {
            "text": "how do I pay by bank transfer",
            "intent": "ask_payment_methods",
            "confidence": 0.97,
            "topic": "payment",
            "triage": "commercial",
        },
    ]
    offer = sent(tracker_with(three))[1]
    assert "Teams won't start" in offer["text"]
    assert "bank transfer" in offer["text"]
    assert len(offer["buttons"]) == 2


def test_one_problem_gets_no_offer() -> None:
    assert len(sent(tracker_with(TWO[:1]))) == 1
    assert len(sent(tracker_with(None))) == 1
    assert len(sent(tracker_with("not a list of issues"))) == 1


def test_only_the_first_answer_to_the_message_offers() -> None:
    answered = [
        {"event": "user", "text": "..."},
        {"event": "bot", "text": "Here is the refund answer."},
    ]
    assert len(sent(tracker_with(TWO, events=answered))) == 1


def test_a_long_problem_gets_a_short_button_title_and_its_full_words() -> None:
    long = "Outlook keeps asking for my password every few minutes on every laptop"
    issues = [TWO[0], {**TWO[1], "text": long}]
    button = sent(tracker_with(issues))[1]["buttons"][0]
    assert button["payload"] == long
    assert len(button["title"]) <= 60 and button["title"].endswith("…")
