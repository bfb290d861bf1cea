"""Several questions in one message: "what was our last bill, when are you around,
and do you charge for technical help?" gets three answers, in the order asked.

NLU lists the clauses that ask something under `questions` (bot/issues.py). When a
message has them, `action_answer_questions` answers each clause as if it had been
typed alone: the action for its intent runs on the clause, with the entities found
in it. It runs after the answer to the whole message (which took up one of them:
that clause is skipped), or instead of "I didn't understand" and "that's outside
what I can help with". A clause out of scope is said to be so; a clause that is a
problem to work on (a technical fault, a dispute, a cancellation) is offered as the
next step, as for two problems in one message (actions/base.py). When the message
starts a flow ("I need to cancel the Copilot licences and I also need your phone
number"), its questions are answered before the flow's first question
(`answer_clauses`, called by `BillingAction.run`), and the flow is not interrupted.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.access import ActionAccessSuspended
from actions.base import (
    ABOUT_THE_FLOW,
    ANSWER_QUESTIONS,
    BUTTON_TITLE_CHARS,
    answered_already,
    questions_of,
    shorten,
    texts_for,
    wants_every_answer,
)
from actions.charges import ActionExplainCharges
from actions.invoices import ActionCreditNotes, ActionInvoiceLookup
from actions.microsoft_invoices import ActionMicrosoftInvoice
from actions.payments import ActionPaymentMethods, ActionPaymentStatus
from actions.subscriptions import ActionSubscriptions
from actions.support import ActionSupportInfo
from actions.tickets import ActionEscalationRoute, ActionTicketStatus
from common.taxonomy import ISSUES_KEY, QUESTIONS_KEY

OUT_OF_SCOPE = "out_of_scope"

# The intents a clause can be answered for (actions/base.py ANSWERABLE_INTENTS), and
# the action that answers it.
ANSWERS: dict[str, type[Action]] = {
    "ask_invoice": ActionInvoiceLookup,
    "ask_microsoft_invoice": ActionMicrosoftInvoice,
    "ask_payment_status": ActionPaymentStatus,
    "ask_payment_methods": ActionPaymentMethods,
    "ask_credit_note": ActionCreditNotes,
    "explain_charges": ActionExplainCharges,
    "ask_subscription": ActionSubscriptions,
    "access_suspended": ActionAccessSuspended,
    "ask_support_info": ActionSupportInfo,
    "escalate_to_microsoft": ActionEscalationRoute,
    "ask_ticket_status": ActionTicketStatus,
    # "can someone call us back?" among other questions: how to reach the desk
    "request_human": ActionSupportInfo,
}


def clause_tracker(tracker: Tracker, question: dict[str, Any]) -> Tracker:
    """`tracker` whose latest message is the clause alone: its text, its intent and
    the entities NLU found inside it (none of the message's other questions)."""
    state = tracker.current_state()
    message = dict(state.get("latest_message") or {})
    text = str(message.get("text") or "")
    clause = str(question.get("text") or "")
    start = text.find(clause)
    end = start + len(clause)
    entities = [
        {**e, "start": e["start"] - start, "end": e["end"] - start}
        for e in message.get("entities") or []
        if start >= 0
        and isinstance(e.get("start"), int)
        and isinstance(e.get("end"), int)
        and start <= e["start"]
        and e["end"] <= end
    ]
    message.update(
        text=clause,
        intent={
            "name": question.get("intent"),
            "confidence": question.get("confidence"),
        },
        intent_ranking=[],
        entities=entities,
    )
    message.pop(ISSUES_KEY, None)
    message.pop(QUESTIONS_KEY, None)
    state["latest_message"] = message
    return Tracker.from_dict(state)


async def answer_clauses(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: DomainDict,
    *,
    skip_intent: str | None,
    offer_rest: bool = True,
) -> list[EventType]:
    """Answer each question clause of the latest message whose intent is not
    `skip_intent`; say which are out of scope; offer the problems to work on as the
    next step. Before a flow (`offer_rest` false) nothing is offered, and clauses
    about the flow itself are left to it. The answers' events, no follow-ups."""
    texts = texts_for(tracker)
    events: list[EventType] = []
    later: list[str] = []
    for question in questions_of(tracker):
        intent = str(question.get("intent") or "")
        clause = str(question.get("text") or "").strip()
        if intent == skip_intent or (not offer_rest and intent in ABOUT_THE_FLOW):
            continue
        answer = ANSWERS.get(intent)
        if answer is not None:
            events.extend(
                e
                for e in await answer().run(
                    dispatcher, clause_tracker(tracker, question), domain
                )
                if e.get("event") != "followup"
            )
        elif intent == OUT_OF_SCOPE:
            dispatcher.utter_message(
                text=texts.text("questions.out_of_scope", question=clause)
            )
        else:
            later.append(clause)
    if later and offer_rest:
        dispatcher.utter_message(
            text=texts.text(
                "issues.also_one" if len(later) == 1 else "issues.also_many",
                issue=later[0],
                issues=", ".join(texts.text("issues.quoted", issue=c) for c in later),
            ),
            buttons=[
                {"title": shorten(c, BUTTON_TITLE_CHARS), "payload": c} for c in later
            ],
        )
    return events


class ActionAnswerQuestions(Action):
    """Answer each question of the latest message in turn."""

    def name(self) -> str:
        return ANSWER_QUESTIONS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        # The answer to the whole message read every entity in it: the clauses
        # asking what it answered are answered.
        answered_intent = (
            (message.get("intent") or {}).get("name")
            if answered_already(tracker)
            else None
        )
        return await answer_clauses(
            dispatcher, tracker, domain, skip_intent=answered_intent
        )


class ActionOutOfScope(Action):
    """Outside what the desk does: say so, unless the message also asks questions
    the desk answers ("what's our latest invoice, and the weather tomorrow?")."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if wants_every_answer(tracker):
            return [FollowupAction(ANSWER_QUESTIONS)]
        dispatcher.utter_message(response="utter_out_of_scope")
        return []
