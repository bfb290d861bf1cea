"""Custom actions of the support desk, one module per topic.

`python -m rasa_sdk --actions actions` imports this package; importing the topic
modules here registers their actions. Nothing here does I/O at import time: settings
and the database are reached only when an action runs.
"""

from actions import invoices

__all__ = ["invoices"]
