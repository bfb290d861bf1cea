"""The one definition of a conversation's outcome (api/dashboard/outcome.py), as a
table: the first rule that applies wins."""

from __future__ import annotations

from typing import Optional

import pytest

from api.dashboard.models import Outcome
from api.dashboard.outcome import LastQuestion, OutcomeFacts, conversation_outcome

understood = LastQuestion(topic="invoice_lookup", not_understood=False)
fell_back = LastQuestion(topic="out_of_scope", not_understood=True)
low = LastQuestion(topic="invoice_lookup", not_understood=True)
wants_human = LastQuestion(topic="human_agent", not_understood=False)

# handoffs, tickets, last question                 -> outcome
TABLE: list[tuple[int, int, Optional[LastQuestion], Outcome]] = [
    (1, 0, understood, Outcome.HANDED_OFF),
    (1, 2, fell_back, Outcome.HANDED_OFF),  # a handoff wins over a ticket
    (0, 1, understood, Outcome.ESCALATED),
    (0, 1, wants_human, Outcome.ESCALATED),  # asked for a person, got a ticket
    (0, 1, None, Outcome.ESCALATED),
    (0, 0, None, Outcome.ABANDONED),  # never asked anything
    (0, 0, fell_back, Outcome.ABANDONED),
    (0, 0, low, Outcome.ABANDONED),
    (0, 0, wants_human, Outcome.ABANDONED),  # asked for a person, got none
    (0, 0, understood, Outcome.RESOLVED),
    (0, 0, LastQuestion(topic="out_of_scope", not_understood=False), Outcome.RESOLVED),
]


# A form still waiting for its answer when the user left: abandoned, whatever
# the last question was; a handoff or a ticket still wins.
# handoffs, tickets, last question, form left open -> outcome
FORM_TABLE: list[tuple[int, int, Optional[LastQuestion], bool, Outcome]] = [
    (0, 0, understood, True, Outcome.ABANDONED),
    (0, 0, understood, False, Outcome.RESOLVED),
    (0, 1, understood, True, Outcome.ESCALATED),
    (1, 0, understood, True, Outcome.HANDED_OFF),
]


@pytest.mark.parametrize(
    ("handoffs", "tickets", "last", "form_open", "expected"), FORM_TABLE
)
def test_a_form_left_open_is_abandoned(
    handoffs: int,
    tickets: int,
    last: Optional[LastQuestion],
    form_open: bool,
    expected: Outcome,
) -> None:
    facts = OutcomeFacts(
        handoffs=handoffs,
        tickets_filed=tickets,
        last_question=last,
        form_left_open=form_open,
    )
    assert conversation_outcome(facts) is expected


@pytest.mark.parametrize(("handoffs", "tickets", "last", "expected"), TABLE)
def test_outcome_table(
    handoffs: int, tickets: int, last: Optional[LastQuestion], expected: Outcome
) -> None:
    facts = OutcomeFacts(handoffs=handoffs, tickets_filed=tickets, last_question=last)
    assert conversation_outcome(facts) is expected
