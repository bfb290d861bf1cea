"""`make validate`: Rasa's data validation, with our catalogue taken into account.

Runs the same checks as `rasa data validate` (domain, NLU, story and rule
structure) on what training reads, including the responses the catalogue importer
adds (bot/importer.py). Rasa warns about every response no story or rule names, but
most of ours are sent by actions (actions/, by name), so those warnings would bury
the ones that matter. Here a response counts as used when a rule, a story or our
code names it; a response nothing names is reported, and so is every other warning
Rasa gives, one line each. Exit status 1 on an error or an unused response.

    .venv-rasa/bin/python scripts/validate.py
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("actions", "bot", "api", "common")
# Responses Rasa's own default actions send (action_default_fallback).
RASA_SENDS = frozenset({"utter_default"})
UNUSED = re.compile(r"The utterance '(?P<name>[^']+)' is not used in any story or rule")
# Said on every run whatever the domain holds (rasa/shared/core/slot_mappings.py).
ALWAYS_SAID = ("Slot auto-fill has been removed in 3.0",)
# Intents an NLU component sets by itself, never trained: Rasa warns that they have
# no examples. `unsupported_language`: bot/language.py.
SET_BY_COMPONENTS = frozenset({"unsupported_language"})
UNTRAINED = re.compile(
    r"The intent '(?P<name>[^']+)' is listed in the domain file, but is not found "
    r"in the NLU training data"
)


# A response name composed in code, e.g. f"utter_why_{form}_{slot}": its prefix.
COMPOSED = re.compile(r"""f["'](utter_[a-z0-9_]*)\{""")


def named_in_code(names: set[str]) -> set[str]:
    """The names our Python code mentions, whole or as the fixed start of a name it
    composes (f"utter_support_{aspect}")."""
    found: set[str] = set()
    prefixes: set[str] = set()
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found.update(n for n in names if n in text)
            prefixes.update(COMPOSED.findall(text))
    found.update(n for n in names if any(n.startswith(p) for p in prefixes))
    return found


def main() -> int:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    logging.disable(logging.INFO)

    from rasa.cli.utils import (
        _validate_domain,
        _validate_nlu,
        _validate_story_structure,
    )
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    # Rasa's progress bars write to stderr; errors come back as warnings or a False.
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("always")
        importer = TrainingDataImporter.load_from_config(
            "config.yml", "domain", ["data"]
        )
        validator = Validator.from_importer(importer)
        valid = all(
            [
                _validate_domain(validator),
                _validate_nlu(validator, False),
                _validate_story_structure(validator, None, False),
            ]
        )

    unused: set[str] = set()
    others: list[str] = []
    for warning in caught:
        if warning.category is DeprecationWarning or "rasa" not in warning.filename:
            continue
        message = str(warning.message).strip()
        match = UNUSED.search(message)
        if message.startswith(ALWAYS_SAID):
            continue
        untrained = UNTRAINED.search(" ".join(message.split()))
        if untrained and untrained["name"] in SET_BY_COMPONENTS:
            continue
        if match:
            unused.add(match["name"])
        elif message not in others:
            others.append(message)
    dead = sorted(unused - RASA_SENDS - named_in_code(unused))

    for message in others:
        print("validate: warning:", " ".join(message.split()))
    for name in dead:
        print(f"validate: response {name} is sent by no rule, story or code")
    if not valid or dead:
        print("validate: FAILED")
        return 1
    print(
        f"validate: domain, NLU, stories and rules are consistent "
        f"({len(unused)} responses are sent by actions)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
