"""Fixtures of the tests of `common/`, the pure code both environments import.

Run in both: `.venv/bin/pytest tests/common` and
`.venv-rasa/bin/python -m pytest tests/common --confcutdir=tests/common`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
