"""Custom actions of the support desk, one module per topic.

`python -m rasa_sdk --actions actions` imports this package; importing the topic
modules here registers their actions. Nothing here does I/O at import time: settings
and the database are reached only when an action runs.
"""

from actions import access, charges, invoices, payments, refunds, subscriptions, support
from actions import fallback as fallback
from actions import handoff as handoff
from actions import tickets as tickets

__all__ = [
    "access",
    "charges",
    "invoices",
    "payments",
    "refunds",
    "subscriptions",
    "support",
]
