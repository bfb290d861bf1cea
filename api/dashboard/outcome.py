"""The outcome of a conversation: defined here, once, and stored by the ingester.

The list filter, the transcript page, the metrics and the CSV all read the stored
``conversations.outcome`` that this function computed; nothing else decides it.
``docs/dashboard.md`` states the same definition in words.

In order, the first rule that applies wins:

1. ``handed_off``: a human took over at least once (a ``ConversationPaused`` event).
2. ``escalated``: otherwise, at least one ticket was filed from the conversation
   (``tickets.conversation_id`` is the sender id).
3. ``abandoned``: otherwise, the user left without an answer: they left in the
   middle of a form (it still waits for an answer), or never asked anything
   beyond small talk, or their last substantive message (any topic but small
   talk) was not understood (``nlu_fallback`` or a confidence below the
   threshold), or asked for a person (topic ``human_agent``) and got none.
   Form answers and button clicks are not questions: they never decide this.
4. ``resolved``: otherwise; the bot answered the user's last question itself.

"Containment" on the metrics page is the share of ``resolved`` conversations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from api.dashboard.models import Outcome

SMALLTALK_TOPIC = "smalltalk"  # common/taxonomy.yml: greetings, thanks, yes/no
HUMAN_TOPIC = "human_agent"  # common/taxonomy.yml: the user wants a person


@dataclass(frozen=True)
class LastQuestion:
    """The user's last substantive (not small-talk) message."""

    topic: Optional[str]  # topic of the predicted intent (None: unknown intent)
    not_understood: bool  # nlu_fallback or low confidence


@dataclass(frozen=True)
class OutcomeFacts:
    """What the outcome depends on, read from the conversation's events."""

    handoffs: int
    tickets_filed: int
    last_question: Optional[LastQuestion]
    form_left_open: bool = False  # a form still waits for the user's answer


def conversation_outcome(facts: OutcomeFacts) -> Outcome:
    """The outcome of a conversation (see the module docstring)."""
    if facts.handoffs > 0:
        return Outcome.HANDED_OFF
    if facts.tickets_filed > 0:
        return Outcome.ESCALATED
    if facts.form_left_open:
        return Outcome.ABANDONED
    last = facts.last_question
    if last is None or last.not_understood or last.topic == HUMAN_TOPIC:
        return Outcome.ABANDONED
    return Outcome.RESOLVED
