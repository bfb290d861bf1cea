"""Tests of the channel code itself, run in Rasa's environment:

    .venv-rasa/bin/python -m pytest tests/bot/channels -p no:cacheprovider \
        --confcutdir=tests/bot/channels -q

(`--confcutdir` keeps pytest from loading tests/conftest.py, which needs SQLAlchemy 2.)
In `.venv`, which has no Rasa, this folder is skipped.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("rasa") is None:
    collect_ignore_glob = ["test_*.py"]
