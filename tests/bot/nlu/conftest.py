"""Fixtures for the NLU tests.

Two kinds of tests live here:
- taxonomy tests (``test_taxonomy.py``): pure Python + PyYAML, run in either venv;
- spaCy pipeline tests (``test_spacy_entities.py``): need spaCy, so they run in the Rasa
  venv only (``.venv-rasa/bin/python -m pytest tests/bot/nlu``); elsewhere they are skipped
  through ``pytest.importorskip("spacy")``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def csp_nlp(tmp_path_factory: pytest.TempPathFactory):
    """The pipeline as Rasa sees it: built, written to disk and loaded back by path."""
    spacy = pytest.importorskip("spacy")
    from bot.spacy_pipeline import build

    out = build(tmp_path_factory.mktemp("spacy") / "csp_en")
    return spacy.load(out)
