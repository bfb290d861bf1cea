"""Tests of the dialogue policies (bot/policies.py), run in Rasa's environment:

    .venv-rasa/bin/python -m pytest tests/bot/dialogue -p no:cacheprovider \
        --confcutdir=tests/bot/dialogue -q

(`--confcutdir` keeps pytest from loading tests/conftest.py, which needs SQLAlchemy 2.)
In `.venv`, which has no Rasa, this folder is skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]

if importlib.util.find_spec("rasa") is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def bot() -> tuple[Any, list[Any]]:
    """The bot's domain, and a tracker for each training story and rule and each
    test story (`make rasa-test`)."""
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"),
        str(ROOT / "domain"),
        [str(ROOT / "data"), *map(str, ROOT.glob("tests/test_stories*.yml"))],
    )
    domain = importer.get_domain()
    trackers = TrainingDataGenerator(
        importer.get_stories(), domain, augmentation_factor=0
    ).generate()
    return domain, trackers
