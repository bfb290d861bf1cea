"""Custom actions of the support desk, one module per topic.

`python -m rasa_sdk --actions actions` imports this package; importing the topic
modules here registers their actions. Nothing here does I/O at import time: settings
and the database are reached only when an action runs.

The plumbing every topic shares: `base` (who is chatting, the reply, the context),
`forms` (the one form base), `tracker` (reading the conversation), `runtime` (one
database session in a worker thread), `identity` (the signed chat token).
"""

from actions import (
    access,
    charges,
    conversation,
    disputes,
    fallback,
    follow_up,
    handoff,
    invoices,
    microsoft_invoices,
    payments,
    questions,
    refunds,
    subscriptions,
    support,
    tickets,
)

__all__ = [
    "access",
    "charges",
    "conversation",
    "disputes",
    "fallback",
    "follow_up",
    "handoff",
    "invoices",
    "microsoft_invoices",
    "payments",
    "questions",
    "refunds",
    "subscriptions",
    "support",
    "tickets",
]
